"""The types that cross the answer path: where a question came from, the settings, the result of a loop.

They sit below `llm` and `engine` so that providers, the engine and every capability (memory,
promptly, ops) can name them without importing each other. The protocols here are the answer
path's slots: retriever stages, the router, the quality predictor and the answer cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hololoom_core.models import Answer, Source, StoredMessage, Verdict
from hololoom_core.rooms import RoomScope


@dataclass(slots=True)
class Agent:
    """An answering persona: a name, what it is for, and extra instructions for language models."""

    name: str
    brief: str
    instructions: str = ""


@dataclass(slots=True)
class Configuration:
    """The settings one answer is produced with (an experiment variant, or the default)."""

    name: str = "default"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AnswerContext:
    """Where a question came from, and which rooms its answer may draw on.

    `scope` is the asker's `RoomScope` (their room plus the rooms config shares with it); left unset, a
    question from a room reads only that room and one from nowhere (the CLI's `ask`) reads every room.
    Every retriever stage filters by `rooms` (see `hololoom_core/rooms.py`).
    """

    question: str
    room_id: str | None = None
    asker: str | None = None
    message_id: int | None = None
    thread_id: str | None = None
    scope: RoomScope | None = None

    @property
    def rooms(self) -> RoomScope:
        """The rooms this question's answer may read."""
        if self.scope is not None:
            return self.scope
        return RoomScope.for_room(self.room_id) if self.room_id is not None else RoomScope.everything()


@dataclass(slots=True)
class LoopResult:
    """What a loop produced: the answer text and sections, its verdict, the provider and each step taken."""

    text: str
    sections: dict[str, str]
    verdict: Verdict
    provider: str
    loop_steps: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False
    sources: list[Source] | None = None  # set when the loop retrieved again (e.g. refine with more context)
    details: dict[str, Any] = field(default_factory=dict)  # merged into `Answer.details` (e.g. contributions)


class Retriever(Protocol):
    """One stage of the retriever chain: adds sources for a question, given what earlier stages found."""

    name: str

    def retrieve(self, context: AnswerContext, configuration: Configuration, found: list[Source]) -> list[Source]:
        """The sources this stage adds, best first (it never removes what `found` holds)."""
        ...


@dataclass(slots=True)
class MessageCandidate:
    """An earlier message a message search found, with its similarity to the question when it measures one."""

    message: StoredMessage
    similarity: float | None = None


class MessageSearch(Protocol):
    """Finds earlier messages for the answer path's `messages` stage (FTS5 by default, hybrid recall with memory)."""

    min_similarity: float  # a candidate at least this similar is cited even without shared terms

    def candidates(self, context: AnswerContext, k: int, mode: str | None = None) -> list[MessageCandidate]:
        """Up to `k` earlier messages, best first; `mode` is an experiment's retrieval mode, when set."""
        ...


class Reranker(Protocol):
    """Reorders the chain's sources (for example by a learned relevance); it may not add or drop any."""

    name: str

    def rerank(self, context: AnswerContext, configuration: Configuration, sources: list[Source]) -> list[Source]:
        """The same sources, in a better order."""
        ...


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Which agent answers a question, how sure the router is, and why.

    `scores` holds the probability of every agent; `agents` lists more than one agent when the
    question should be answered by a collaboration; `decided_by` names what decided (the offline
    router, a model-based selector, an operator's `!route`, the default).
    """

    agent: str
    confidence: float = 1.0
    scores: dict[str, float] = field(default_factory=dict)
    runner_up: str | None = None
    margin: float = 1.0
    reason: str = ""
    agents: tuple[str, ...] = ()
    decided_by: str = "default"

    @property
    def collaborative(self) -> bool:
        """Whether more than one agent should answer."""
        return len(self.agents) > 1

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape used by `hololoom route --json` and stored with the interaction."""
        return {
            "agent": self.agent,
            "confidence": round(self.confidence, 4),
            "scores": {name: round(p, 4) for name, p in self.scores.items()},
            "runner_up": self.runner_up,
            "margin": round(self.margin, 4),
            "reason": self.reason,
            "agents": list(self.agents) if self.agents else [self.agent],
            "decided_by": self.decided_by,
        }


class Router(Protocol):
    """Chooses which agent (or agents) answer a question."""

    def __call__(self, context: AnswerContext, agents: dict[str, Agent]) -> RoutingDecision:
        """The decision; its `agent` (and every name in `agents`) is a key of `agents`."""
        ...


@dataclass(frozen=True, slots=True)
class QualityForecast:
    """A forecast made before the answer is generated: quality in [0, 1], retry probability, difficulty, why.

    `recommended` holds configuration parameters (e.g. `retrieval_mode`, `loop`, `collaborate`) the
    answer path merges into the chosen configuration when `apply` is true; `features` are the
    pre-answer features the forecast rests on; `model` describes the model (version, outcomes seen).
    """

    quality: float
    reason: str = ""
    retry_probability: float | None = None
    difficulty: float | None = None
    recommended: dict[str, Any] = field(default_factory=dict)
    apply: bool = False
    features: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape used by `hololoom predict --json` and stored with the interaction."""
        return {
            "predicted_quality": round(self.quality, 4),
            "retry_probability": None if self.retry_probability is None else round(self.retry_probability, 4),
            "difficulty": None if self.difficulty is None else round(self.difficulty, 4),
            "recommended_config": dict(self.recommended),
            "applied": self.apply,
            "reason": self.reason,
            "features": {name: round(value, 6) for name, value in self.features.items()},
            "model": dict(self.model),
        }


class QualityPredictor(Protocol):
    """Predicts how good an answer to a question will be, before generating it."""

    def predict(self, context: AnswerContext, decision: RoutingDecision) -> QualityForecast:
        """The forecast for this question and the router's decision (computed before retrieval)."""
        ...


class AnswerCache(Protocol):
    """Remembers loop results by question and retrieved context."""

    def get(self, context: AnswerContext, sources: list[Source], configuration: Configuration) -> LoopResult | None:
        """A still-valid cached result, or None."""
        ...

    def put(
        self, context: AnswerContext, sources: list[Source], configuration: Configuration, result: LoopResult
    ) -> None:
        """Remember a result."""
        ...


ConfigurationChooser = Callable[[AnswerContext], Configuration]
AnswerObserver = Callable[[Answer, AnswerContext], None]


def first_agent(context: AnswerContext, agents: dict[str, Agent]) -> RoutingDecision:
    """The default router: send every question to the first registered agent."""
    name = next(iter(agents))
    return RoutingDecision(agent=name, confidence=1.0, scores={name: 1.0}, reason="the only router installed",
                           agents=(name,), decided_by="default")
