"""The optional model-based selector (AutoGen SelectorGroupChat style): a language model picks the agent.

Used only with `agents.selector: ollama` and a language-model provider, and only when the offline
router is unsure (confidence below `agents.selector_confidence`) and not collaborating. The model sees
each agent's brief and the router's probabilities and answers strict JSON `{agent, reason}`. The
offline router is the fallback (model down, malformed or unknown answer) and the tie-breaker (the model
may only choose among the router's top two); `decided_by` records which of them decided.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from hololoom_core.agents.roster import Roster
from hololoom_core.answers.types import RoutingDecision

ChatFunction = Callable[..., Awaitable[str]]


class ModelSelector:
    """Asks a chat model which agent should answer, within the router's top two."""

    def __init__(self, chat: ChatFunction, model: str, roster: Roster, timeout_s: float = 20.0) -> None:
        self.chat = chat
        self.model = model
        self.roster = roster
        self.timeout_s = timeout_s

    def messages(self, question: str, decision: RoutingDecision) -> list[dict[str, str]]:
        """The selector prompt: the agents with their briefs, the router's probabilities, the question."""
        agents = "\n".join(f"- {p.id}: {p.name} — {p.brief}" for p in self.roster.agents if p.id in decision.scores)
        scores = ", ".join(f"{name} {p:.2f}" for name, p in sorted(decision.scores.items(), key=lambda i: -i[1]))
        return [
            {"role": "system", "content": "You route questions from an operations team's chat to one specialist "
             f"agent.\nAgents:\n{agents}\nReply with one JSON object {{\"agent\": ID, \"reason\": ONE SENTENCE}}."},
            {"role": "user", "content": f"Question: {question}\nAn offline classifier's probabilities: {scores}"},
        ]

    async def choose(self, question: str, decision: RoutingDecision) -> RoutingDecision:
        """The selector's decision, or the router's (with why) when the model fails or strays."""
        ids = [name for name in self.roster.ids if name in decision.scores]
        schema: dict[str, Any] = {"type": "object", "required": ["agent", "reason"],
                                  "properties": {"agent": {"type": "string", "enum": ids},
                                                 "reason": {"type": "string"}}}
        try:
            raw = await asyncio.wait_for(self.chat(self.messages(question, decision), model=self.model,
                                                   format=schema, temperature=0.0), self.timeout_s)
            data = json.loads(raw)
            agent, why = str(data["agent"]).strip(), " ".join(str(data.get("reason", "")).split())[:200]
        except Exception as exc:  # down, timed out, not JSON: the router decides
            detail = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
            return replace(decision, reason=f"{decision.reason}; selector {self.model} failed ({detail}), "
                                            "the router decided")
        if agent not in ids:
            return replace(decision, reason=f"{decision.reason}; selector {self.model} named unknown agent "
                                            f"'{agent[:40]}', the router decided")
        top_two = [name for name, _ in sorted(decision.scores.items(), key=lambda item: -item[1])[:2]]
        if agent not in top_two:
            return replace(decision, decided_by="router (tie-break)",
                           reason=f"{decision.reason}; selector chose {agent}, outside the router's top two "
                                  f"({', '.join(top_two)}): the router breaks the tie")
        runner_up = next((name for name in top_two if name != agent), None)
        return RoutingDecision(
            agent=agent, confidence=decision.scores[agent], scores=decision.scores, runner_up=runner_up,
            margin=decision.scores[agent] - (decision.scores[runner_up] if runner_up else 0.0),
            reason=f"selector {self.model}: {why or 'no reason given'}; router: {decision.reason}",
            agents=(agent,), decided_by=f"selector:{self.model}",
        )
