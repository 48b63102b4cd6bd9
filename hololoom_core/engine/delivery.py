"""The delivery side of the pipeline: what a transport must offer so the engine can send the bot's replies.

The engine stores every reply first (in the transaction that clears the question's pending action) with
the delivery state its transport asks for, then hands it to `Transport.deliver`. The local room and the
CLI show replies as they are stored (`sent` at once); the Matrix transport stores them `pending` and its
outbox sends them exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from hololoom_core.models import Reply

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
class InProcessTransport:
    """The local room and the CLI: a reply is seen as soon as it is stored (the app listens on the bus)."""

    name: str
    display_name: str | None = None

    @property
    def reply_state(self) -> DeliveryState:
        """Stored replies are already delivered."""
        return "sent"

    async def deliver(self, reply: Reply) -> None:
        """Nothing to send: storing the reply published it to the app and the CLI."""


@dataclass(frozen=True, slots=True)
class DetachedTransport:
    """A transport that is not running in this process (e.g. Matrix from the CLI): replies wait as `pending`
    and its outbox sends them when it starts."""

    name: str
    display_name: str | None = None

    @property
    def reply_state(self) -> DeliveryState:
        """Replies wait for the transport to start."""
        return "pending"

    async def deliver(self, reply: Reply) -> None:
        """Nothing to do now: the transport sends pending replies when it starts."""
