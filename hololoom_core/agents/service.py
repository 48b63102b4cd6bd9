"""The multi-agent service: the roster, the router, corrections, agent states and the figures the app shows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from hololoom_core.agents.collaboration import Collaboration
from hololoom_core.agents.corrections import Correction, CorrectionStore
from hololoom_core.agents.events import AgentActivity
from hololoom_core.agents.roster import Roster
from hololoom_core.agents.router import AgentRouter
from hololoom_core.agents.selector import ModelSelector
from hololoom_core.answers.types import AnswerContext, RoutingDecision
from hololoom_core.events import Event, MessageStored, ReplySent
from hololoom_core.models import Answer, StoredMessage
from hololoom_core.redact import redact_secrets

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine
    from hololoom_core.store.interactions import InteractionRow


class UnknownAgent(ValueError):
    """An agent id that is not one of the five; the message lists the valid ids."""


class MultiAgentService:
    """What `engine.capability(MultiAgentService)` gives: routing, corrections, states and figures."""

    def __init__(self, engine: Engine, roster: Roster, router: AgentRouter, corrections: CorrectionStore,
                 collaboration: Collaboration | None) -> None:
        self.engine = engine
        self.roster = roster
        self.router = router
        self.corrections = corrections
        self.collaboration = collaboration
        self.states: dict[str, str] = {}
        self.selector: ModelSelector | None = None
        self._pending_links: dict[str, int] = {}
        self._warming = False

    # -- routing, wrapped so the app sees who is answering ---------------------------------------------

    def route(self, context: AnswerContext, agents: dict[str, Any]) -> RoutingDecision | Awaitable[RoutingDecision]:
        """The `Router` slot: the router's decision; marks the chosen agent(s) busy and tells the app.

        Synchronous (callers such as `hololoom predict` route without awaiting), except when the model
        selector may be asked: then an awaitable the answer path awaits. The model is loaded in the router's
        thread on the first chat activity (`on_event`), so by the first question it is usually ready; if not,
        this call waits for it.
        """
        decision = self.router(context, agents)
        threshold = self.engine.config.agents.selector_confidence
        if (self.selector is not None and not decision.collaborative and decision.decided_by == "router"
                and decision.confidence < threshold):
            return self._select(context, decision)
        return self._routed(decision)

    async def _select(self, context: AnswerContext, decision: RoutingDecision) -> RoutingDecision:
        assert self.selector is not None
        return self._routed(await self.selector.choose(context.question, decision))

    def _routed(self, decision: RoutingDecision) -> RoutingDecision:
        state = "collaborating" if decision.collaborative else "answering"
        for name in decision.agents or (decision.agent,):
            self.states[name] = state
        self.engine.bus.publish(AgentActivity("routed", dict(self.states), decision.as_dict()))
        return decision

    def observe_answer(self, answer: Answer, context: AnswerContext) -> None:
        """Answer observer: the agents of this answer are idle again."""
        routing = answer.details.get("routing", {})
        for name in routing.get("agents") or [answer.agent]:
            self.states.pop(name, None)
        self.engine.bus.publish(AgentActivity("answered", dict(self.states), {"agent": answer.agent}))

    def state_of(self, agent: str) -> str:
        """idle, answering or collaborating."""
        return self.states.get(agent, "idle")

    # -- corrections -------------------------------------------------------------------------------------

    def check_agent(self, agent: str) -> str:
        """The agent id normalised (`code-review` → `code_review`); `UnknownAgent` when it is not one of the five."""
        name = agent.strip().lower().replace("-", "_")
        if name not in self.roster.ids:
            raise UnknownAgent(f"'{agent}' is not an agent; use one of: {', '.join(self.roster.ids)}")
        return name

    def target_interaction(self, message: StoredMessage, window_s: float | None = None) -> InteractionRow | None:
        """The answer a `!route` message is about: the one it replies to, else its thread's, else the room's last."""
        interactions = self.engine.interactions
        if message.reply_to:
            row = interactions.by_reply_event(message.reply_to)
            if row is not None:
                return row
        store = self.engine.store
        thread = message.thread_id or message.reply_to
        if thread:
            found = store.query_one(
                "SELECT i.id FROM interactions i LEFT JOIN messages q ON q.id = i.message_id "
                "LEFT JOIN messages r ON r.id = i.reply_message_id "
                "WHERE q.event_id = ? OR q.thread_id = ? OR r.thread_id = ? ORDER BY i.id DESC LIMIT 1",
                (thread, thread, thread))
            if found is not None:
                return interactions.get(found["id"])
        window = window_s if window_s is not None else self.engine.config.agents.correction_window_minutes * 60
        found = store.query_one(
            "SELECT id FROM interactions WHERE room_id = ? AND created_ts >= ? ORDER BY id DESC LIMIT 1",
            (message.room_id, message.ts - window))
        return interactions.get(found["id"]) if found is not None else None

    def correct(self, interaction_id: int, agent: str, user_id: str, source: str) -> Correction:
        """Store an operator's label for an answer's routing and refit the router in the background."""
        correct = self.check_agent(agent)
        row = self.engine.interactions.get(interaction_id)
        if row is None:
            raise LookupError(f"no answer #{interaction_id} to correct")
        routed = str((row.details.get("routing") or {}).get("agent") or row.agent)
        correction = self.corrections.add(interaction_id=interaction_id, question=row.query, routed=routed,
                                          correct=correct, user_id=user_id, source=source,
                                          ts=self.engine.clock.now())
        self.engine.bus.publish(AgentActivity("corrected", dict(self.states),
                                              {"interaction_id": interaction_id, "routed": routed, "correct": correct}))
        self.refit()
        return correction

    def refit(self) -> Future[Any]:
        """Refit the router with every correction in its background thread; the app hears when it is done."""
        future = self.router.schedule_refit()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return future

        def done(_future: Future[Any]) -> None:
            def tell() -> None:
                self.engine.bus.publish(AgentActivity("refitted", dict(self.states), self.router.status()))
                if _future.exception() is not None:
                    self.engine.report_error("router refit", str(_future.exception()))
            if not loop.is_closed():
                loop.call_soon_threadsafe(tell)

        future.add_done_callback(done)
        return future

    # -- !collab replies -----------------------------------------------------------------------------------

    def link_reply(self, command_event_id: str, interaction_id: int | None) -> None:
        """Remember that the reply to this command carries this interaction (so reactions and `!route` find it)."""
        if interaction_id is not None:
            self._pending_links[command_event_id] = interaction_id

    def on_event(self, event: Event) -> None:
        """Bus subscriber: start loading the router model on the first stored message (off the event loop, not at
        start, so start-up time and idle memory stay as they were); link a `!collab` reply to its interaction."""
        if isinstance(event, MessageStored) and not self.router.ready and not self._warming:
            self._warming = True
            self.router.warm_up()
        if isinstance(event, ReplySent) and event.reply.in_reply_to in self._pending_links:
            interaction_id = self._pending_links.pop(event.reply.in_reply_to or "")
            if event.reply.message_id is not None:
                self.engine.interactions.set_reply_message(interaction_id, event.reply.message_id)

    # -- figures --------------------------------------------------------------------------------------------

    def routing_log(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest routing decisions from the recorded answers, newest first."""
        rows = self.engine.store.query(
            "SELECT id, created_ts, query, agent, quality, details FROM interactions ORDER BY id DESC LIMIT ?",
            (limit,))
        labels = {c.interaction_id: c.correct for c in self.corrections.recent(200)}
        log = []
        for row in rows:
            details = json.loads(row["details"] or "{}")
            routing = details.get("routing") or {}
            log.append({
                "interaction_id": row["id"], "ts": row["created_ts"],
                "question": redact_secrets(row["query"]).text, "agent": routing.get("agent", row["agent"]),
                "confidence": routing.get("confidence"), "runner_up": routing.get("runner_up"),
                "margin": routing.get("margin"), "reason": routing.get("reason", ""),
                "decided_by": routing.get("decided_by", "default"), "agents": routing.get("agents") or [row["agent"]],
                "corrected_to": labels.get(row["id"]), "quality": row["quality"],
            })
        return log

    def collaborations(self, limit: int = 5) -> list[dict[str, Any]]:
        """The newest collaborations: agents, each contribution's quality, agreement and the final answer's TL;DR."""
        rows = self.engine.store.query(
            "SELECT id, created_ts, query, quality, sections, details FROM interactions "
            "WHERE details LIKE '%\"consensus\"%' ORDER BY id DESC LIMIT ?", (limit,))
        result = []
        for row in rows:
            details = json.loads(row["details"] or "{}")
            consensus = details.get("consensus") or {}
            result.append({
                "interaction_id": row["id"], "ts": row["created_ts"], "question": redact_secrets(row["query"]).text,
                "agents": details.get("agents", []),
                "contributions": [{"agent": c.get("agent"), "quality": c.get("quality")}
                                  for c in details.get("contributions", [])],
                "agreement": consensus.get("agreement"), "agreed": len(consensus.get("agreed", [])),
                "single": len(consensus.get("single", [])), "conflicts": len(consensus.get("conflicts", [])),
                "quality": row["quality"], "final": json.loads(row["sections"] or "{}").get("TL;DR", ""),
            })
        return result

    def overview_data(self) -> dict[str, Any]:
        """The Multi-Agent tab's figures: agents with state and corrections, routing log, collaborations, accuracy."""
        corrections = self.corrections.counts_by_agent()
        return {
            "agents": [{"id": p.id, "name": p.name, "brief": p.brief, "state": self.state_of(p.id),
                        "corrections": corrections.get(p.id, 0)} for p in self.roster.agents],
            "routing_log": self.routing_log(),
            "collaborations": self.collaborations(),
            "accuracy": self.corrections.accuracy(),
            "router": self.router.status(),
        }
