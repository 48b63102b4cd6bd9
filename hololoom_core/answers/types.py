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
    """Where a question came from."""

    question: str
    room_id: str | None = None
    asker: str | None = None
    message_id: int | None = None
    thread_id: str | None = None


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


class Router(Protocol):
    """Chooses which agent answers a question."""

    def __call__(self, context: AnswerContext, agents: dict[str, Agent]) -> str:
        """The name of the agent that should answer."""
        ...


@dataclass(frozen=True, slots=True)
class QualityForecast:
    """A predicted answer quality in [0, 1] and why, made before the answer is generated."""

    quality: float
    reason: str = ""


class QualityPredictor(Protocol):
    """Predicts how good an answer to a question will be, before generating it."""

    def predict(self, context: AnswerContext, sources: list[Source]) -> QualityForecast:
        """The forecast for this question and its retrieved sources."""
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


def first_agent(context: AnswerContext, agents: dict[str, Agent]) -> str:
    """The default router: send every question to the first registered agent."""
    return next(iter(agents))
