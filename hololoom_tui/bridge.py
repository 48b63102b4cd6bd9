"""The one module that knows both the engine bus and Textual: it turns bus events into typed Textual messages.

Each kind of engine event has its own message class (`MessagesStored`, `AnswersReady`, ...). Widgets
say which kinds they want with `EngineBridge.listen(widget, *kinds)` and get a message of that kind,
carrying that kind's events, posted to them. Events are coalesced: the bridge posts at most
`max_rate` batches a second, one message per kind and listener per batch, and keeps only the newest
stats, so a flood of engine events never floods the UI.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from textual.message import Message
from textual.message_pump import MessagePump

from hololoom_core.bus import BoundedQueue, EventBus
from hololoom_core.events import (
    AnswerDelta,
    AnswerReady,
    EngineError,
    Event,
    ExperimentChanged,
    FeedbackRecorded,
    InsightBatchDetected,
    InsightDetected,
    MessageStored,
    StatsChanged,
    StatusChanged,
)


@dataclass
class EngineMessage(Message, bubble=False):
    """Engine events of one kind, in the order they happened (the base of every bridge message)."""

    events: list[Any] = field(default_factory=list)
    EVENT: ClassVar[type[Event] | None] = None


@dataclass
class MessagesStored(EngineMessage):
    """Messages were durably stored (people's and the bot's): `events` are `MessageStored`."""

    EVENT = MessageStored


@dataclass
class AnswerDeltas(EngineMessage):
    """Pieces of answers being streamed by a language model: `events` are `AnswerDelta`."""

    EVENT = AnswerDelta


@dataclass
class AnswersReady(EngineMessage):
    """Answers were finished, judged and recorded: `events` are `AnswerReady`."""

    EVENT = AnswerReady


@dataclass
class FeedbackArrived(EngineMessage):
    """People rated answers: `events` are `FeedbackRecorded`."""

    EVENT = FeedbackRecorded


@dataclass
class ExperimentsChanged(EngineMessage):
    """Prompt experiments started, learned, stopped or promoted: `events` are `ExperimentChanged`."""

    EVENT = ExperimentChanged


@dataclass
class InsightsDetected(EngineMessage):
    """Detectors noticed decisions, action items, questions or incident signals.

    `events` are `InsightDetected` (a live message's insights, one each) and `InsightBatchDetected` (an
    analysed batch's insights, one event per batch).
    """

    EVENT = InsightDetected


@dataclass
class MemoryUpdated(EngineMessage):
    """The room memory (decisions, action items, questions) changed: `events` are `MemoryChanged`."""


@dataclass
class StatsUpdated(EngineMessage):
    """The engine's live counters changed: `events` holds the newest `StatsChanged` only."""

    EVENT = StatsChanged

    @property
    def stats(self) -> dict[str, Any]:
        """The newest counters."""
        return self.events[-1].stats if self.events else {}


@dataclass
class StatusUpdated(EngineMessage):
    """Parts changed state (language provider, Matrix connection, ...): `events` are `StatusChanged`."""

    EVENT = StatusChanged


@dataclass
class EngineErrors(EngineMessage):
    """Something failed inside the engine, which keeps running: `events` are `EngineError`."""

    EVENT = EngineError


@dataclass
class IncidentsChanged(EngineMessage):
    """Incidents were declared, acknowledged, updated or resolved: `events` are `IncidentChanged`."""


@dataclass
class WorkflowRunsChanged(EngineMessage):
    """Workflow runs started, paused (for approval), resumed or finished: `events` are `WorkflowRunChanged`."""


@dataclass
class MarketplaceUpdated(EngineMessage):
    """Marketplace packages were installed, updated, rolled back or removed: `events` are `MarketplaceChanged`."""


@cache
def message_kinds() -> dict[type[Event], type[EngineMessage]]:
    """Which bridge message carries which engine event class.

    The memory, incident and workflow event classes are imported here, on first use, so that importing the
    bridge (before the first frame) does not import those packages.
    """
    from hololoom_core.marketplace.events import MarketplaceChanged
    from hololoom_core.memory.events import MemoryChanged
    from hololoom_core.ops.incidents.models import IncidentChanged
    from hololoom_core.ops.workflows.events import WorkflowRunChanged

    kinds: dict[type[Event], type[EngineMessage]] = {
        kind.EVENT: kind
        for kind in (MessagesStored, AnswerDeltas, AnswersReady, FeedbackArrived, ExperimentsChanged,
                     InsightsDetected, StatsUpdated, StatusUpdated, EngineErrors)
        if kind.EVENT is not None
    }
    kinds[InsightBatchDetected] = InsightsDetected
    kinds[MemoryChanged] = MemoryUpdated
    kinds[IncidentChanged] = IncidentsChanged
    kinds[WorkflowRunChanged] = WorkflowRunsChanged
    kinds[MarketplaceChanged] = MarketplaceUpdated
    return kinds


def group_events(events: list[Event]) -> dict[type[EngineMessage], list[Event]]:
    """The events of a batch grouped by the message kind that carries them (events no widget shows are left out)."""
    kinds = message_kinds()
    grouped: dict[type[EngineMessage], list[Event]] = {}
    for event in coalesce(events):
        kind = kinds.get(type(event))
        if kind is not None:
            grouped.setdefault(kind, []).append(event)
    return grouped


class EngineBridge:
    """Pumps engine events from a bus queue to the widgets that listen for them, as typed messages."""

    def __init__(self, max_rate: float = 20.0) -> None:
        self.interval = 1.0 / max_rate
        self.listeners: dict[type[EngineMessage], list[MessagePump]] = {}
        self.batches = 0
        self.bus: EventBus | None = None
        self.inbox: BoundedQueue | None = None

    def listen(self, node: MessagePump, *kinds: type[EngineMessage]) -> None:
        """Post messages of these kinds to `node` from now on."""
        for kind in kinds:
            nodes = self.listeners.setdefault(kind, [])
            if node not in nodes:
                nodes.append(node)

    def forget(self, node: MessagePump) -> None:
        """Stop posting anything to `node`."""
        for nodes in self.listeners.values():
            if node in nodes:
                nodes.remove(node)

    def connect(self, bus: EventBus) -> None:
        """Start receiving the events of this bus (a new connection replaces the old one)."""
        self.close()
        self.bus = bus
        self.inbox = bus.subscribe_queue()

    def close(self) -> None:
        """Stop receiving events."""
        if self.bus is not None and self.inbox is not None:
            self.bus.unsubscribe_queue(self.inbox)
        self.bus = self.inbox = None

    def deliver(self, events: list[Event]) -> None:
        """Post one message per kind to every listener of that kind; listeners that have closed are dropped."""
        for kind, kind_events in group_events(events).items():
            for node in list(self.listeners.get(kind, [])):
                if not node.post_message(kind(list(kind_events))):
                    self.forget(node)

    def drain(self) -> list[Event]:
        """Everything waiting in the inbox."""
        events: list[Event] = []
        while self.inbox is not None and not self.inbox.empty():
            events.append(self.inbox.get_nowait())
        return events

    async def run(self) -> None:
        """Forward events until cancelled, at most `max_rate` batches a second."""
        if self.inbox is None:
            raise RuntimeError("EngineBridge.run() before connect(bus)")
        inbox = self.inbox
        loop = asyncio.get_running_loop()
        last_post = 0.0
        while True:
            first = await inbox.get()
            wait = self.interval - (loop.time() - last_post)
            if wait > 0:
                await asyncio.sleep(wait)
            events = [first, *self.drain()]
            last_post = loop.time()
            self.batches += 1
            self.deliver(events)


def coalesce(events: list[Event]) -> list[Event]:
    """Keep every event except superseded `StatsChanged` ones (only the newest stats matter)."""
    last_stats = max((i for i, e in enumerate(events) if isinstance(e, StatsChanged)), default=-1)
    return [e for i, e in enumerate(events) if not isinstance(e, StatsChanged) or i == last_stats]

