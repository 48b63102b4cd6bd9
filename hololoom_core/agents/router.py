"""The answer path's router: which specialist answers, how sure it is, why, and when several collaborate.

`AgentRouter` is installed as `engine.answer_path.route`. It asks the fitted `RouterModel` for the
probability of every agent, then applies the policy: a task type that needs several agents (a security
incident ...) or two specialists both above `collaboration_threshold` make a collaboration; a top
probability under `min_confidence` falls back to the General Assistant; otherwise the top agent answers.
The model is loaded from the cache (or fitted) off the event loop at start; operators' corrections
refit it in a background thread and the new model replaces the old one when it is ready.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hololoom_core.agents.model import ModelCache, RouterModel, training_digest
from hololoom_core.agents.roster import FALLBACK_AGENT, Roster, load_utterances
from hololoom_core.answers.types import Agent, AnswerContext, RoutingDecision

if TYPE_CHECKING:
    from hololoom_core.config.agents import AgentsConfig

CorrectionSource = Callable[[], list[tuple[str, str]]]


class AgentRouter:
    """Routes questions with the fitted model and the thresholds of the `agents:` config section."""

    def __init__(self, roster: Roster, config: AgentsConfig, cache: ModelCache,
                 corrections: CorrectionSource | None = None) -> None:
        self.roster = roster
        self.config = config
        self.cache = cache
        self.corrections = corrections or (lambda: [])
        self._model: RouterModel | None = None
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._forced: dict[str, tuple[str, ...]] = {}
        self.refit_future: Future[RouterModel] | None = None
        self.refits = 0
        self.last_error: str | None = None
        self.last_latency_ms: float | None = None

    # -- the model -------------------------------------------------------------------------------------

    def _digest(self, pairs: list[tuple[str, str]]) -> str:
        return training_digest(load_utterances().digest, pairs, self.config.correction_weight)

    def _fit(self, pairs: list[tuple[str, str]]) -> RouterModel:
        digest = self._digest(pairs)
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        labelled = load_utterances()
        examples = list(labelled.train) + pairs
        weights = [1.0] * len(labelled.train) + [float(self.config.correction_weight)] * len(pairs)
        model = RouterModel.fit(examples, weights=weights, corrections=len(pairs), digest=digest)
        self._measure_held_out(model)
        self.cache.put(model)
        return model

    @staticmethod
    def _measure_held_out(model: RouterModel) -> None:
        """Top-1 accuracy of a freshly fitted model on the held-out split (never trained on), kept with it."""
        held_out = load_utterances().held_out
        if not held_out:
            return
        hits = sum(1 for text, agent in held_out if max(model.predict(text, explain=0).scores.items(),
                                                          key=lambda item: item[1])[0] == agent)
        model.info.held_out = {"n": len(held_out), "top1": round(hits / len(held_out), 4)}

    def model(self) -> RouterModel:
        """The current model: loaded from the cache or fitted now (blocking) when none is ready yet."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                self._model = self._fit(self.corrections())
            return self._model

    @property
    def ready(self) -> bool:
        """True once a model is loaded."""
        return self._model is not None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hololoom-router")
        return self._executor

    def warm_up(self) -> Future[RouterModel]:
        """Load or fit the model in the background thread (called at start by long-running processes)."""
        return self._pool().submit(self.model)

    def schedule_refit(self) -> Future[RouterModel]:
        """Refit with every stored correction in the background thread; the new model replaces the old when done."""
        pairs = self.corrections()

        def refit() -> RouterModel:
            try:
                model = self._fit(pairs)
            except Exception as exc:  # a failed refit keeps the current model
                self.last_error = f"refit failed: {type(exc).__name__}: {exc}"
                raise
            with self._lock:
                self._model = model
            self.refits += 1
            return model

        self.refit_future = self._pool().submit(refit)
        return self.refit_future

    async def wait_for_refit(self, timeout: float = 120.0) -> RouterModel | None:
        """Await the running refit (tests, the CLI); None when there is none."""
        future = self.refit_future
        if future is None:
            return None
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)

    def close(self) -> None:
        """Stop the background thread (a running fit finishes first)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    # -- deciding --------------------------------------------------------------------------------------

    def force_collaboration(self, question: str, agents: tuple[str, ...] | None = None) -> None:
        """Make the next decision on this question a collaboration (`!collab`): of `agents`, or the top specialists."""
        self._forced[" ".join(question.split())] = tuple(agents or ())

    def __call__(self, context: AnswerContext, agents: dict[str, Agent]) -> RoutingDecision:
        """The `Router` slot: the decision for this question among the installed agents."""
        return self.decide(context.question, tuple(agents))

    def decide(self, question: str, available: tuple[str, ...] | None = None) -> RoutingDecision:
        """Route one question: agent, confidence, every probability, runner-up, margin, reason, collaborators."""
        started = time.perf_counter()
        names = tuple(name for name in self.roster.ids if available is None or name in available)
        if not names:
            raise ValueError("no agent of the roster is installed")
        prediction = self.model().predict(question)
        scores = {name: prediction.scores.get(name, 0.0) for name in names}
        total = sum(scores.values()) or 1.0
        scores = {name: value / total for name, value in scores.items()}
        ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
        top, top_p = ranked[0]
        runner_up, runner_p = ranked[1] if len(ranked) > 1 else (None, 0.0)
        evidence = []
        if prediction.terms:
            evidence.append("matched " + ", ".join(f"'{term}'" for term in prediction.terms))
        if prediction.signals:
            evidence.append("signals: " + ", ".join(f"{s.label} → {s.agent}" for s in prediction.signals))
        evidence_text = "; ".join(evidence) or "no distinctive terms"
        fallback = FALLBACK_AGENT if FALLBACK_AGENT in names else top
        config = self.config
        forced = self._forced.pop(" ".join(question.split()), None)
        task = self.roster.task_type(question) if config.collaboration else None
        specialists = [(name, p) for name, p in ranked if name != FALLBACK_AGENT]
        team: tuple[str, ...] = (top,)
        agent, decided_by = top, "router"
        if forced is not None:
            team = tuple(name for name in forced if name in names) or tuple(
                name for name, p in specialists[: config.max_collaborators] if p >= 0.1 or name == specialists[0][0]
            )[: max(2, min(config.max_collaborators, 3))]
            if len(team) < 2:
                team = tuple(name for name, _ in specialists[:2])
            agent, decided_by = team[0], "operator (!collab)"
            reason = f"collaboration asked for by an operator; {evidence_text}"
        elif task is not None and all(name in names for name in task.agents):
            team = tuple(sorted(task.agents, key=lambda name: -scores[name]))
            agent = team[0]
            reason = f"task type '{task.name}' needs {' + '.join(team)}; {evidence_text}"
        elif (config.collaboration and len(specialists) > 1 and top != FALLBACK_AGENT
              and specialists[1][1] >= config.collaboration_threshold and top_p >= config.collaboration_threshold):
            team = tuple(name for name, p in specialists[: config.max_collaborators]
                         if p >= config.collaboration_threshold)
            reason = (f"spans domains: {' and '.join(f'{n} {scores[n]:.2f}' for n in team)} both ≥ "
                      f"{config.collaboration_threshold:.2f}; {evidence_text}")
        elif top_p < config.min_confidence and top != fallback:
            agent, team = fallback, (fallback,)
            reason = (f"low confidence ({top} {top_p:.2f} < {config.min_confidence:.2f}): the {fallback} agent "
                      f"answers; {evidence_text}")
        else:
            reason = f"{top} {top_p:.2f}; {evidence_text}"
        if runner_up is not None:
            reason += f"; runner-up {runner_up} {runner_p:.2f}"
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self.last_latency_ms = elapsed_ms
        return RoutingDecision(
            agent=agent,
            confidence=scores[agent],
            scores=scores,
            runner_up=runner_up,
            margin=top_p - runner_p,
            reason=reason,
            agents=team if len(team) > 1 else (agent,),
            decided_by=decided_by,
        )

    def status(self) -> dict[str, Any]:
        """What the app shows about the router: model, what it rests on, refits, its held-out accuracy."""
        model = self._model
        return {
            "ready": model is not None,
            "model": model.info.as_dict() if model is not None else None,
            "refits": self.refits,
            "refitting": self.refit_future is not None and not self.refit_future.done(),
            "error": self.last_error,
        }
