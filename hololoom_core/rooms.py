"""Rooms are walls: `RoomScope`, the set of rooms one reader may read.

Every read path (recall, an answer's retrieval, summaries, stand-ups, insights, incident and workflow
listings) takes a scope and filters by it, in SQL where it can (`RoomScope.sql`). A chat reader's scope
is their own room plus the rooms `memory.shared_rooms` shares with it; the local operator (the CLI)
reads everything (`RoomScope.everything()`). One value, passed through `AnswerContext.scope`, so a new
retriever stage filters the same way as the old ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RoomScope:
    """The rooms a reader may see: `rooms` (never empty), or every room when `rooms` is None."""

    rooms: frozenset[str] | None = None

    @classmethod
    def everything(cls) -> RoomScope:
        """The local operator's scope: every room."""
        return cls(None)

    @classmethod
    def only(cls, rooms: Iterable[str]) -> RoomScope:
        """Exactly these rooms."""
        return cls(frozenset(rooms))

    @classmethod
    def for_room(cls, room_id: str, shared_rooms: Mapping[str, Sequence[str]] | None = None) -> RoomScope:
        """What a person in `room_id` may read: that room, and the rooms `shared_rooms[room_id]` names."""
        return cls(frozenset({room_id, *((shared_rooms or {}).get(room_id, ()))}))

    @property
    def unrestricted(self) -> bool:
        """True for the operator's scope (every room)."""
        return self.rooms is None

    @property
    def room_ids(self) -> tuple[str, ...] | None:
        """The rooms, sorted (None: every room), for SQL parameters and filters."""
        return None if self.rooms is None else tuple(sorted(self.rooms))

    def allows(self, room_id: str | None) -> bool:
        """True when a message or record of `room_id` may be shown to this reader."""
        return self.rooms is None or (room_id is not None and room_id in self.rooms)

    def narrowed(self, room_id: str | None) -> RoomScope:
        """This scope limited to one requested room (`room:#x`, a stand-up for #x); empty when not allowed."""
        if room_id is None:
            return self
        return RoomScope(frozenset({room_id} if self.allows(room_id) else ()))

    def sql(self, column: str = "room_id") -> tuple[str, list[Any]]:
        """A WHERE clause (`column IN (...)`, or "" for every room) and its parameters."""
        if self.rooms is None:
            return "", []
        if not self.rooms:
            return "0", []
        ids = self.room_ids or ()
        return f"{column} IN ({','.join('?' * len(ids))})", list(ids)

    def describe(self) -> str:
        """`#ops, #public` or `every room`, for replies that say what was searched."""
        return "every room" if self.rooms is None else ", ".join(sorted(self.rooms)) or "no room"
