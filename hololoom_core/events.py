"""Typed events the engine publishes on the bus; the app and the metrics subscribe to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hololoom_core.models import Answer, Insight, Reply, StoredMessage


@dataclass(slots=True)
class Event:
    """Base class of every bus event."""


@dataclass(slots=True)
class MessageStored(Event):
    """A message (from a person or the bot) is durably stored and indexed."""

    message: StoredMessage


@dataclass(slots=True)
class MessageChanged(Event):
    """A stored message was edited or redacted."""

    message: StoredMessage
    change: str


@dataclass(slots=True)
class InsightDetected(Event):
    """A detector noticed a decision, action item, question or incident signal."""

    insight: Insight


@dataclass(slots=True)
class InsightBatchDetected(Event):
    """A batch of stored messages was analysed (a Matrix sync batch, ingest, the catch-up): its insights, once.

    `messages` are the analysed messages by id, so subscribers need not read them again. A live
    message's insights are published one by one as `InsightDetected` instead.
    """

    insights: tuple[Insight, ...]
    messages: dict[int, StoredMessage] = field(default_factory=dict)


@dataclass(slots=True)
class AnswerStarted(Event):
    """The answer path started on a question."""

    room_id: str
    question: str
    message_id: int | None


@dataclass(slots=True)
class AnswerDelta(Event):
    """A piece of an answer being streamed by a language model."""

    room_id: str
    message_id: int | None
    text: str


@dataclass(slots=True)
class AnswerReady(Event):
    """An answer is finished, judged and recorded as an interaction."""

    room_id: str
    answer: Answer
    message_id: int | None


@dataclass(slots=True)
class ReplySent(Event):
    """The bot said something in a room (and it is stored)."""

    reply: Reply


@dataclass(slots=True)
class CommandHandled(Event):
    """A command ran (or was refused)."""

    room_id: str
    command: str
    sender: str
    ok: bool
    refused: bool = False


@dataclass(slots=True)
class FeedbackRecorded(Event):
    """A person rated an answer (reaction, re-ask or CLI)."""

    interaction_id: int
    value: int
    source: str


@dataclass(slots=True)
class StatsChanged(Event):
    """The engine's live counters changed."""

    stats: dict[str, Any]


@dataclass(slots=True)
class StatusChanged(Event):
    """A part's status changed (Matrix connection, language provider, retrieval mode)."""

    part: str
    state: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EngineError(Event):
    """Something failed inside the engine; the operator should see it, the engine keeps running."""

    where: str
    error: str


@dataclass(slots=True)
class ExperimentChanged(Event):
    """An experiment started, stopped, learned from an answer or feedback, or promoted a variant."""

    name: str
    status: str
    detail: str = ""
