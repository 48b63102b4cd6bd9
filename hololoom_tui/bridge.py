"""The one module that knows both the engine bus and Textual: it turns bus events into Textual messages.

Events are coalesced: the bridge posts at most `max_rate` batches a second, and keeps only the
newest stats event of a batch, so a flood of engine events never floods the UI.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual.message import Message
from textual.message_pump import MessagePump

from hololoom_core.bus import BoundedQueue, EventBus
from hololoom_core.events import Event, StatsChanged


@dataclass
class EngineUpdate(Message):
    """A batch of engine events, in the order they happened."""

    events: list[Event]


class EngineBridge:
    """Pumps engine events from a bus queue to a Textual target as `EngineUpdate` messages."""

    def __init__(self, bus: EventBus, target: MessagePump, max_rate: float = 20.0) -> None:
        self.bus = bus
        self.target = target
        self.interval = 1.0 / max_rate
        self.inbox: BoundedQueue = bus.subscribe_queue()
        self.batches = 0

    def close(self) -> None:
        """Stop receiving events."""
        self.bus.unsubscribe_queue(self.inbox)

    def drain(self) -> list[Event]:
        """Everything waiting, with all but the newest `StatsChanged` dropped."""
        events: list[Event] = []
        while not self.inbox.empty():
            events.append(self.inbox.get_nowait())
        return coalesce(events)

    async def run(self) -> None:
        """Forward events until cancelled."""
        loop = asyncio.get_running_loop()
        last_post = 0.0
        while True:
            first = await self.inbox.get()
            wait = self.interval - (loop.time() - last_post)
            if wait > 0:
                await asyncio.sleep(wait)
            events = coalesce([first, *self.drain()])
            last_post = loop.time()
            self.batches += 1
            self.target.post_message(EngineUpdate(events))


def coalesce(events: list[Event]) -> list[Event]:
    """Keep every event except superseded `StatsChanged` ones (only the newest stats matter)."""
    last_stats = max((i for i, e in enumerate(events) if isinstance(e, StatsChanged)), default=-1)
    return [e for i, e in enumerate(events) if not isinstance(e, StatsChanged) or i == last_stats]
