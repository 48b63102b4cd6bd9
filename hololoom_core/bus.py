"""The event bus: the engine publishes, subscribers receive, and the engine never waits on them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from hololoom_core.events import Event

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class BoundedQueue:
    """A subscriber's inbox: a bounded asyncio queue that drops its oldest event when full."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def put(self, event: Event) -> None:
        """Add an event without waiting; on overflow the oldest event is dropped and counted."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            try:
                self.queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
            self.dropped += 1
            self.queue.put_nowait(event)

    async def get(self) -> Event:
        """Wait for the next event."""
        return await self.queue.get()

    def get_nowait(self) -> Event:
        """Take the next event if there is one (raises `asyncio.QueueEmpty` otherwise)."""
        return self.queue.get_nowait()

    def empty(self) -> bool:
        """True when no event is waiting."""
        return self.queue.empty()


class EventBus:
    """Publish/subscribe for engine events: synchronous callbacks and bounded queues."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._queues: list[BoundedQueue] = []
        self._defer: Callable[[Callable[[], None]], bool] | None = None
        self.published = 0

    def hold_until_commit(self, defer: Callable[[Callable[[], None]], bool]) -> None:
        """Publish events raised inside a store transaction only after it commits (`Store.after_commit`).

        `defer(callback)` queues the callback and returns True while a transaction is open, else False.
        """
        self._defer = defer

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback` for every event (it must not block); returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def subscribe_queue(self, maxsize: int = 10_000) -> BoundedQueue:
        """Return a queue that receives every event from now on."""
        inbox = BoundedQueue(maxsize)
        self._queues.append(inbox)
        return inbox

    def unsubscribe_queue(self, inbox: BoundedQueue) -> None:
        """Stop delivering events to `inbox`."""
        if inbox in self._queues:
            self._queues.remove(inbox)

    def publish(self, event: Event) -> None:
        """Deliver `event` to every subscriber without waiting; a failing subscriber is logged, not raised.

        Inside a store transaction (see `hold_until_commit`) the event waits for the outermost commit and is
        dropped if the transaction rolls back, so nobody hears of a change that was never stored.
        """
        if self._defer is not None and self._defer(lambda: self._deliver(event)):
            return
        self._deliver(event)

    def publish_many(self, events: Sequence[Event]) -> None:
        """`publish` for several events in order, held until the commit as one callback (a kept batch)."""
        if not events:
            return
        held = list(events)

        def deliver_all() -> None:
            for event in held:
                self._deliver(event)

        if self._defer is not None and self._defer(deliver_all):
            return
        deliver_all()

    def _deliver(self, event: Event) -> None:
        self.published += 1
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a subscriber's bug must never break the pipeline
                log.exception("bus subscriber %r failed on %s", callback, type(event).__name__)
        for inbox in list(self._queues):
            inbox.put(event)
