"""The simulated room: people typing in the app or the CLI, through exactly the same pipeline as Matrix."""

from __future__ import annotations

from dataclasses import dataclass, field

from hololoom_core.engine import Engine
from hololoom_core.models import ChatMessage, HandleResult

DEFAULT_ROOM = "#ops"


@dataclass(slots=True)
class SimulatedUser:
    """A person in the simulated room."""

    id: str
    display_name: str
    role: str = ""


DEFAULT_USERS: list[SimulatedUser] = [
    SimulatedUser("operator", "Operator", "you, at the keyboard"),
    SimulatedUser("alice", "Alice Chen", "on-call SRE"),
    SimulatedUser("bob", "Bob Okafor", "backend engineer"),
    SimulatedUser("priya", "Priya Raman", "incident commander"),
]


@dataclass(slots=True)
class LocalRoom:
    """A simulated chat room: messages go through the engine's `keep_batch` and `respond` steps (like Matrix)
    and the bot's replies come back (the engine's in-process `local` transport shows them as stored)."""

    engine: Engine
    room_id: str = DEFAULT_ROOM
    users: list[SimulatedUser] = field(default_factory=lambda: list(DEFAULT_USERS))
    transport: str = "local"

    def user(self, user_id: str) -> SimulatedUser:
        """The simulated user with this id (created on first use, so CLI `--as` accepts any name)."""
        for user in self.users:
            if user.id == user_id:
                return user
        user = SimulatedUser(user_id, user_id)
        self.users.append(user)
        return user

    async def post(
        self,
        sender: str,
        text: str,
        *,
        thread_id: str | None = None,
        to_bot: bool = False,
        ts: float | None = None,
    ) -> HandleResult:
        """Send one message as `sender`; `to_bot` marks it as addressed to the bot (like a mention)."""
        user = self.user(sender)
        message = ChatMessage(
            room_id=self.room_id,
            sender=user.id,
            body=text,
            transport=self.transport,
            thread_id=thread_id,
            sender_name=user.display_name,
            room_name=self.room_id,
            mentions_bot=to_bot,
            ts=ts if ts is not None else self.engine.clock.now(),
        )
        kept = self.engine.keep_batch([message])
        if not kept:
            return HandleResult(message=None, duplicate=True)
        return await self.engine.respond(kept[0])
