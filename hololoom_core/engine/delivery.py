"""The delivery side of the pipeline: what a transport must offer so the engine can send the bot's replies.

The engine stores every reply first (in the transaction that clears the question's pending action) with
the delivery state its transport asks for, then hands it to `Transport.deliver`. The local room and the
CLI show replies as they are stored (`sent` at once); the Matrix transport stores them `pending` and its
outbox sends them exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from hololoom_core.models import ChatMessage, Reply, StoredMessage
from hololoom_core.store.messages import NewMessage

DeliveryState = Literal["sent", "pending"]


class Transport(Protocol):
    """A way into rooms: names the messages it brings (`ChatMessage.transport`) and delivers stored replies."""

    @property
    def name(self) -> str:
        """The transport name its messages carry (`local`, `cli`, `matrix`)."""
        ...

    @property
    def reply_state(self) -> DeliveryState:
        """How a reply is stored before `deliver`: `sent` when storing shows it, `pending` when it must be sent."""
        ...

    @property
    def display_name(self) -> str | None:
        """The bot's display name in this transport's rooms (None: the `bot.display_name` setting)."""
        ...

    async def deliver(self, reply: Reply) -> None:
        """Send one stored reply (`reply.message_id` is set); a no-op for transports that show replies as stored."""
        ...


@dataclass(frozen=True, slots=True)
class StoredOnlyTransport:
    """A transport with nothing to send at `deliver` time.

    In-process rooms (the local room, the CLI, ingest) show a reply as soon as it is stored, so their replies
    are stored `sent`. A transport not running in this process (Matrix seen from the CLI) leaves its replies
    `pending` for its outbox to send when it starts.
    """

    name: str
    reply_state: DeliveryState = "sent"
    display_name: str | None = None

    async def deliver(self, reply: Reply) -> None:
        """Nothing to do: storing the reply published it, or the transport sends pending replies on start."""


def reply_row(
    reply: Reply, *, bot_id: str, sender_name: str, transport: Transport, ts: float, answering: StoredMessage | None
) -> NewMessage:
    """The row that stores one of the bot's replies: its text, kind, answer metadata and delivery state."""
    bot_message = ChatMessage(
        room_id=reply.room_id, sender=bot_id, body=reply.body, transport=transport.name, event_id=reply.event_id,
        ts=ts, thread_id=reply.thread_id, reply_to=reply.in_reply_to, sender_name=sender_name,
    )
    meta: dict[str, Any] = {"reply_kind": reply.kind, **reply.meta}
    if reply.answer is not None:
        meta.update(
            agent=reply.answer.agent,
            quality=reply.answer.quality,
            latency_ms=reply.answer.latency_ms,
            provider=reply.answer.provider,
            interaction_id=reply.answer.interaction_id,
            configuration=reply.answer.configuration,
            judge=reply.answer.verdict.as_dict(),
            loop_steps=reply.answer.loop_steps,
        )
        prediction = reply.answer.details.get("prediction")
        if prediction is not None:  # the forecast made before answering, shown next to the judged quality
            meta["predicted_quality"] = prediction.get("predicted_quality")
        if answering is not None:
            meta["question_message_id"] = answering.id
    return NewMessage(bot_message, reply.body, is_bot=True, kind=reply.kind, meta=meta,
                      delivery=transport.reply_state)


class BackgroundDeliveries:
    """Deliveries started without waiting for them (`Engine.say`); `close` waits briefly, then cancels."""

    def __init__(self, on_error: Callable[[str], None]) -> None:
        self.on_error = on_error
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a delivery in the background; without a running loop it is dropped (it stays pending)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous caller: the transport sends pending replies when it starts
            coroutine.close()
            return
        task = loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    async def wait(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the running deliveries."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)

    def cancel(self) -> None:
        """Cancel the deliveries still running (they stay pending and are sent on the next start)."""
        for task in list(self.tasks):
            task.cancel()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.on_error(f"{type(error).__name__}: {error}")
