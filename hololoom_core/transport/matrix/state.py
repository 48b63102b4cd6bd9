"""The Matrix transport's own tables: sync token, rooms, memberships, sent events, reactions, undecryptable events.

Registered with `register_migrations("matrix", ...)` at import; the Matrix capability
(`transport/matrix/capability.py`) declares them, so the tables exist before any transport starts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hololoom_core.store.db import Store, register_migrations
from hololoom_core.store.messages import MessageStore
from hololoom_core.text.clean import clean_optional

MATRIX_V1 = """
CREATE TABLE matrix_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL,
    ts     REAL NOT NULL
);
CREATE TABLE matrix_rooms (
    room_id     TEXT PRIMARY KEY,
    name        TEXT,
    membership  TEXT NOT NULL,
    is_direct   INTEGER NOT NULL DEFAULT 0,
    encrypted   INTEGER NOT NULL DEFAULT 0,
    inviter     TEXT,
    updated_ts  REAL NOT NULL
);
CREATE TABLE matrix_members (
    room_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    membership    TEXT NOT NULL,
    display_name  TEXT,
    updated_ts    REAL NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE TABLE matrix_membership_events (
    event_id         TEXT PRIMARY KEY,
    room_id          TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    sender           TEXT NOT NULL,
    membership       TEXT NOT NULL,
    prev_membership  TEXT,
    ts               REAL NOT NULL
);
CREATE INDEX matrix_membership_events_room ON matrix_membership_events(room_id, ts);
CREATE TABLE matrix_sent (
    matrix_event_id  TEXT PRIMARY KEY,
    message_id       INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    part             INTEGER NOT NULL,
    txn_id           TEXT NOT NULL,
    ts               REAL NOT NULL
);
CREATE INDEX matrix_sent_message ON matrix_sent(message_id);
CREATE TABLE matrix_reactions (
    event_id         TEXT PRIMARY KEY,
    room_id          TEXT NOT NULL,
    sender           TEXT NOT NULL,
    target_event_id  TEXT NOT NULL,
    key              TEXT NOT NULL,
    interaction_id   INTEGER,
    value            INTEGER,
    withdrawn        INTEGER NOT NULL DEFAULT 0,
    ts               REAL NOT NULL
);
CREATE TABLE matrix_undecryptable (
    event_id    TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL,
    sender      TEXT NOT NULL,
    session_id  TEXT,
    reported    INTEGER NOT NULL DEFAULT 1,
    decrypted   INTEGER NOT NULL DEFAULT 0,
    ts          REAL NOT NULL
);
"""

register_migrations("matrix", [MATRIX_V1])

SYNC_TOKEN_KEY = "next_batch"


@contextmanager
def atomic_without_fsync(store: Store) -> Iterator[sqlite3.Connection]:
    """One transaction committed without waiting for the disk (WAL, `synchronous=NORMAL`), for writes whose
    loss on power failure is harmless because they are atomic and re-derivable.

    Used for a sync batch with its token (lost together, the batch is simply fetched again) and for marking
    a reply sent (lost, the re-send carries the same transaction id and the homeserver drops it). The next
    fully synchronous commit (a stored reply, before it is sent) makes these durable too, since the WAL is
    written in order.
    """
    with store.relaxed_sync(), store.transaction() as conn:
        yield conn


@dataclass(slots=True)
class RoomRecord:
    """What the transport remembers about one Matrix room."""

    room_id: str
    name: str | None
    membership: str
    is_direct: bool
    encrypted: bool
    inviter: str | None


class MatrixState:
    """Reads and writes the transport's tables; every write joins the caller's transaction when there is one."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.messages = MessageStore(store)
        self._cache: dict[str, str | None] = {}

    # -- sync token -----------------------------------------------------------------------------

    def sync_token(self) -> str | None:
        """The `next_batch` of the last sync whose messages are stored, or None before the first sync."""
        return self.get(SYNC_TOKEN_KEY)

    def save_sync_token(self, token: str) -> None:
        """Remember `next_batch`; call it inside the transaction that stored the batch's messages."""
        self.put(SYNC_TOKEN_KEY, token)

    def get(self, key: str) -> str | None:
        """A value of the transport's key-value state (cached; this process is its only writer)."""
        if key not in self._cache:
            row = self.store.query_one("SELECT value FROM matrix_state WHERE key = ?", (key,))
            self._cache[key] = row["value"] if row else None
        return self._cache[key]

    def forget_cache(self) -> None:
        """Drop cached values (after a transaction that wrote them was rolled back)."""
        self._cache.clear()

    def put(self, key: str, value: str) -> None:
        """Set a value of the transport's key-value state."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO matrix_state(key, value, ts) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, ts = excluded.ts",
                (key, value, time.time()),
            )
            # Forget it on rollback: the cache must never run ahead of the database.
            self._cache.pop(key, None)
        self._cache[key] = value

    # -- rooms and members ------------------------------------------------------------------------

    def upsert_room(
        self,
        room_id: str,
        *,
        membership: str,
        name: str | None = None,
        is_direct: bool | None = None,
        encrypted: bool | None = None,
        inviter: str | None = None,
    ) -> None:
        """Record a room the bot is invited to, joined or left; also lists it among the engine's rooms."""
        now = time.time()
        name = clean_optional(name)  # names come from other servers' JSON: lone surrogates become U+FFFD
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO matrix_rooms(room_id, name, membership, is_direct, encrypted, inviter, updated_ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(room_id) DO UPDATE SET "
                "name = coalesce(excluded.name, matrix_rooms.name), membership = excluded.membership, "
                "is_direct = CASE WHEN ? IS NULL THEN matrix_rooms.is_direct ELSE excluded.is_direct END, "
                "encrypted = max(matrix_rooms.encrypted, excluded.encrypted), "
                "inviter = coalesce(excluded.inviter, matrix_rooms.inviter), updated_ts = excluded.updated_ts",
                (room_id, name, membership, int(bool(is_direct)), int(bool(encrypted)), inviter, now, is_direct),
            )
            if membership == "join":
                conn.execute(
                    "INSERT INTO rooms(room_id, transport, name, created_ts, last_ts) VALUES (?, 'matrix', ?, ?, ?) "
                    "ON CONFLICT(room_id) DO UPDATE SET name = coalesce(excluded.name, rooms.name)",
                    (room_id, name, now, now),
                )

    def room(self, room_id: str) -> RoomRecord | None:
        """One remembered room."""
        row = self.store.query_one("SELECT * FROM matrix_rooms WHERE room_id = ?", (room_id,))
        return _room(row) if row else None

    def rooms(self, membership: str | None = "join") -> list[RoomRecord]:
        """Remembered rooms with this membership (None: all)."""
        if membership is None:
            rows = self.store.query("SELECT * FROM matrix_rooms ORDER BY room_id")
        else:
            rows = self.store.query("SELECT * FROM matrix_rooms WHERE membership = ? ORDER BY room_id", (membership,))
        return [_room(row) for row in rows]

    def record_membership(
        self,
        *,
        event_id: str,
        room_id: str,
        user_id: str,
        sender: str,
        membership: str,
        prev_membership: str | None,
        display_name: str | None,
        ts: float,
    ) -> bool:
        """Track one membership change (history and current state); False if the event was seen before."""
        display_name = clean_optional(display_name)
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO matrix_membership_events(event_id, room_id, user_id, sender, membership, "
                "prev_membership, ts) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING",
                (event_id, room_id, user_id, sender, membership, prev_membership, ts),
            )
            if cursor.rowcount == 0:
                return False
            conn.execute(
                "INSERT INTO matrix_members(room_id, user_id, membership, display_name, updated_ts) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(room_id, user_id) DO UPDATE SET "
                "membership = excluded.membership, display_name = coalesce(excluded.display_name, "
                "matrix_members.display_name), updated_ts = excluded.updated_ts WHERE excluded.updated_ts >= "
                "matrix_members.updated_ts",
                (room_id, user_id, membership, display_name, ts),
            )
        return True

    def snapshot_members(self, room_id: str, members: dict[str, str | None], ts: float) -> None:
        """Set the current joined members of a room (user id → display name) without history rows."""
        with self.store.transaction() as conn:
            for user_id, display_name in members.items():
                conn.execute(
                    "INSERT INTO matrix_members(room_id, user_id, membership, display_name, updated_ts) "
                    "VALUES (?, ?, 'join', ?, ?) ON CONFLICT(room_id, user_id) DO UPDATE SET "
                    "membership = 'join', display_name = coalesce(excluded.display_name, matrix_members.display_name)",
                    (room_id, user_id, clean_optional(display_name), ts),
                )

    def seen(self, event_id: str) -> bool:
        """True when this event is already stored as a message, membership change, reaction or sent event."""
        if self.messages.exists(event_id):
            return True
        row = self.store.query_one(
            "SELECT 1 FROM matrix_membership_events "
            "WHERE event_id = ?1 UNION ALL SELECT 1 FROM matrix_reactions WHERE event_id = ?1 UNION ALL "
            "SELECT 1 FROM matrix_sent WHERE matrix_event_id = ?1 UNION ALL SELECT 1 FROM matrix_undecryptable "
            "WHERE event_id = ?1 LIMIT 1",
            (event_id,),
        )
        return row is not None

    def history_floor(self, room_id: str) -> float:
        """Events older than this (seconds) are history from before the bot was there: never acted on."""
        values = [self.get("history_floor"), self.get(f"joined_at:{room_id}")]
        return max((float(value) for value in values if value is not None), default=0.0)

    def members(self, room_id: str, membership: str = "join") -> list[dict[str, Any]]:
        """The tracked members of a room with this membership."""
        rows = self.store.query(
            "SELECT user_id, display_name, membership, updated_ts FROM matrix_members "
            "WHERE room_id = ? AND membership = ? ORDER BY user_id",
            (room_id, membership),
        )
        return [dict(row) for row in rows]

    def membership_history(self, room_id: str) -> list[dict[str, Any]]:
        """Every tracked membership change of a room, oldest first."""
        rows = self.store.query(
            "SELECT * FROM matrix_membership_events WHERE room_id = ? ORDER BY ts, event_id", (room_id,)
        )
        return [dict(row) for row in rows]

    # -- sent events ------------------------------------------------------------------------------

    def record_sent(self, matrix_event_id: str, message_id: int, part: int, txn_id: str) -> None:
        """Remember that part `part` of stored message `message_id` went out as `matrix_event_id`."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO matrix_sent(matrix_event_id, message_id, part, txn_id, ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(matrix_event_id) DO NOTHING",
                (matrix_event_id, message_id, part, txn_id, time.time()),
            )

    def sent_parts(self, message_id: int) -> dict[int, str]:
        """The parts of a stored message already sent, as part number → Matrix event id."""
        rows = self.store.query("SELECT part, matrix_event_id FROM matrix_sent WHERE message_id = ?", (message_id,))
        return {int(row["part"]): row["matrix_event_id"] for row in rows}

    def message_for_sent_event(self, matrix_event_id: str) -> int | None:
        """The stored bot message that a Matrix event of ours carried."""
        return self.store.scalar("SELECT message_id FROM matrix_sent WHERE matrix_event_id = ?", (matrix_event_id,))

    # -- reactions ----------------------------------------------------------------------------------

    def record_reaction(
        self,
        *,
        event_id: str,
        room_id: str,
        sender: str,
        target_event_id: str,
        key: str,
        interaction_id: int | None,
        value: int | None,
        ts: float,
    ) -> bool:
        """Remember a reaction (so its redaction can withdraw the feedback); False if seen before."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO matrix_reactions(event_id, room_id, sender, target_event_id, key, interaction_id, "
                "value, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING",
                (event_id, room_id, sender, target_event_id, key, interaction_id, value, ts),
            )
            return cursor.rowcount > 0

    def reaction(self, event_id: str) -> sqlite3.Row | None:
        """A remembered reaction."""
        return self.store.query_one("SELECT * FROM matrix_reactions WHERE event_id = ?", (event_id,))

    def withdraw_reaction(self, event_id: str) -> None:
        """Mark a reaction as removed."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE matrix_reactions SET withdrawn = 1 WHERE event_id = ?", (event_id,))

    # -- undecryptable events -----------------------------------------------------------------------

    def record_undecryptable(self, event_id: str, room_id: str, sender: str, session_id: str | None) -> bool:
        """Remember an event we could not decrypt; True the first time its session is seen (report it then)."""
        with self.store.transaction() as conn:
            seen_session = session_id is not None and conn.execute(
                "SELECT 1 FROM matrix_undecryptable WHERE session_id = ? LIMIT 1", (session_id,)
            ).fetchone() is not None
            cursor = conn.execute(
                "INSERT INTO matrix_undecryptable(event_id, room_id, sender, session_id, ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(event_id) DO NOTHING",
                (event_id, room_id, sender, session_id, time.time()),
            )
            return cursor.rowcount > 0 and not seen_session

    def undecryptable(self, room_id: str | None = None) -> list[dict[str, Any]]:
        """Events still waiting for their room key."""
        if room_id is None:
            rows = self.store.query("SELECT * FROM matrix_undecryptable WHERE decrypted = 0 ORDER BY ts")
        else:
            rows = self.store.query(
                "SELECT * FROM matrix_undecryptable WHERE decrypted = 0 AND room_id = ? ORDER BY ts", (room_id,)
            )
        return [dict(row) for row in rows]

    def mark_decrypted(self, event_id: str) -> None:
        """An event that failed to decrypt earlier was decrypted after all."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE matrix_undecryptable SET decrypted = 1 WHERE event_id = ?", (event_id,))

    def put_json(self, key: str, value: Any) -> None:
        """Store a JSON value in the key-value state."""
        self.put(key, json.dumps(value))

    def get_json(self, key: str, default: Any = None) -> Any:
        """Read a JSON value from the key-value state."""
        raw = self.get(key)
        return json.loads(raw) if raw is not None else default


def _room(row: sqlite3.Row) -> RoomRecord:
    return RoomRecord(
        room_id=row["room_id"],
        name=row["name"],
        membership=row["membership"],
        is_direct=bool(row["is_direct"]),
        encrypted=bool(row["encrypted"]),
        inviter=row["inviter"],
    )
