"""Messages, rooms and users: durable writes, lookups and BM25 full-text search (FTS5)."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hololoom_core.models import ChatMessage, StoredMessage
from hololoom_core.rooms import RoomScope
from hololoom_core.store.db import Store
from hololoom_core.text.terms import STOP_WORDS

_FTS_TOKEN = re.compile(r"[A-Za-z0-9_]+")


@dataclass(slots=True)
class SearchHit:
    """A message found by full-text search, with its BM25 rank (lower is better in SQLite)."""

    message: StoredMessage
    rank: float


def row_to_message(row: sqlite3.Row) -> StoredMessage:
    """Build a `StoredMessage` from a `messages` row (joined with users for the display name)."""
    keys = row.keys()
    return StoredMessage(
        id=row["id"],
        event_id=row["event_id"],
        transport=row["transport"],
        room_id=row["room_id"],
        sender=row["sender"],
        body=row["body"],
        ts=row["ts"],
        thread_id=row["thread_id"],
        reply_to=row["reply_to"],
        sender_name=row["display_name"] if "display_name" in keys else None,
        is_bot=bool(row["is_bot"]),
        kind=row["kind"],
        redacted=bool(row["redacted"]),
        edited_ts=row["edited_ts"],
        meta=json.loads(row["meta"] or "{}"),
        delivery=row["delivery"] if "delivery" in keys else None,
    )


_SELECT = (
    "SELECT m.*, u.display_name AS display_name FROM messages m LEFT JOIN users u ON u.user_id = m.sender"
)


def fts_query(text: str, max_terms: int = 24) -> str:
    """Turn free text into a safe FTS5 query: quoted content words joined by OR (no FTS syntax from users).

    Stop words are left out: they match nearly every message and only slow the ranking down.
    """
    seen: list[str] = []
    for token in _FTS_TOKEN.findall(text.lower()):
        if (len(token) < 2 and not token.isdigit()) or token in STOP_WORDS:
            continue
        if token not in seen:
            seen.append(token)
        if len(seen) >= max_terms:
            break
    return " OR ".join(f'"{token}"' for token in seen)


class EmbeddableMessage(NamedTuple):
    """The fields of a stored message that embedding needs: its body and where and when it was written."""

    id: int
    body: str
    room_id: str
    sender: str
    thread_id: str | None
    ts: float


@dataclass(slots=True)
class NewMessage:
    """One message to store: the transport's message, its redacted body and how the store should file it."""

    message: ChatMessage
    body: str
    is_bot: bool = False
    kind: str = "chat"
    meta: dict[str, Any] = field(default_factory=dict)
    delivery: str | None = None


_INSERT = (
    "INSERT INTO messages(event_id, transport, room_id, thread_id, reply_to, sender, body, ts, is_bot, kind, meta, "
    "delivery) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING"
)
_UPSERT_ROOM = (
    "INSERT INTO rooms(room_id, transport, name, created_ts, last_ts) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(room_id) DO UPDATE SET last_ts = max(last_ts, excluded.last_ts), "
    "name = coalesce(excluded.name, rooms.name)"
)
_UPSERT_USER = (
    "INSERT INTO users(user_id, display_name, is_bot, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(user_id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), "
    "display_name = coalesce(excluded.display_name, users.display_name)"
)


def _params(row: NewMessage) -> tuple[Any, ...]:
    message = row.message
    return (message.event_id, message.transport, message.room_id, message.thread_id, message.reply_to,
            message.sender, row.body, message.ts, int(row.is_bot), row.kind,
            json.dumps(row.meta) if row.meta else "{}", row.delivery)


def _stored(row: NewMessage, row_id: int) -> StoredMessage:
    message = row.message
    return StoredMessage(
        id=row_id, event_id=message.event_id, transport=message.transport, room_id=message.room_id,
        sender=message.sender, body=row.body, ts=message.ts, thread_id=message.thread_id, reply_to=message.reply_to,
        sender_name=message.sender_name, is_bot=row.is_bot, kind=row.kind, meta=row.meta, delivery=row.delivery,
    )


class MessageStore:
    """Reads and writes the `messages`, `rooms` and `users` tables: the one API for them (no raw SQL elsewhere)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(
        self,
        message: ChatMessage,
        body: str,
        *,
        is_bot: bool = False,
        kind: str = "chat",
        meta: dict[str, Any] | None = None,
        delivery: str | None = None,
    ) -> StoredMessage | None:
        """Store and index one message with its (already redacted) body; None if its event id was stored before."""
        return self.insert_batch([NewMessage(message, body, is_bot, kind, meta or {}, delivery)])[0]

    def insert_batch(self, rows: list[NewMessage]) -> list[StoredMessage | None]:
        """Store and index many messages in one transaction; per row the stored message, or None for a duplicate.

        Rows go in with one `executemany`, then the whole batch is indexed with one
        `INSERT INTO messages_fts ... SELECT` (much faster than a per-row trigger).
        """
        if not rows:
            return []
        rooms: dict[str, list[Any]] = {}
        users: dict[str, list[Any]] = {}
        for row in rows:
            message = row.message
            room = rooms.get(message.room_id)
            if room is None:
                rooms[message.room_id] = [message.room_id, message.transport, message.room_name, message.ts, message.ts]
            else:
                room[2] = message.room_name or room[2]
                room[3], room[4] = min(room[3], message.ts), max(room[4], message.ts)
            user = users.get(message.sender)
            if user is None:
                users[message.sender] = [message.sender, message.sender_name, int(row.is_bot), message.ts, message.ts]
            else:
                user[1] = message.sender_name or user[1]
                user[3], user[4] = min(user[3], message.ts), max(user[4], message.ts)
        with self.store.transaction() as conn:
            conn.executemany(_UPSERT_ROOM, list(rooms.values()))
            conn.executemany(_UPSERT_USER, list(users.values()))
            last = int(conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0])
            if len(rows) == 1:
                cursor = conn.execute(_INSERT, _params(rows[0]))
                new_ids = {rows[0].message.event_id: cursor.lastrowid} if cursor.rowcount == 1 else {}
            else:
                inserted = conn.executemany(_INSERT, [_params(row) for row in rows]).rowcount
                top = int(conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0])
                if inserted == len(rows) and top == last + inserted:
                    # No duplicate: each row got the next id (max + 1) in order, so there is nothing to read back.
                    if inserted:
                        conn.execute("INSERT INTO messages_fts(rowid, body) SELECT id, body FROM messages "
                                     "WHERE id > ?", (last,))
                    return [_stored(row, last + offset) for offset, row in enumerate(rows, start=1)]
                new_ids = {r[0]: r[1] for r in conn.execute("SELECT event_id, id FROM messages WHERE id > ?", (last,))}
            if new_ids:
                conn.execute("INSERT INTO messages_fts(rowid, body) SELECT id, body FROM messages WHERE id > ?", (last,))
        result: list[StoredMessage | None] = []
        for row in rows:
            row_id = new_ids.pop(row.message.event_id, None)  # pop: a repeat inside the batch is a duplicate
            result.append(_stored(row, int(row_id)) if row_id is not None else None)
        return result

    def set_delivery(self, message_id: int, state: str, *, event_id: str | None = None,
                     meta: dict[str, Any] | None = None) -> None:
        """Record a bot message's delivery state (`pending`, `sent`, `failed`), its transport event id and meta."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE messages SET delivery = ?, event_id = coalesce(?, event_id), meta = coalesce(?, meta) "
                "WHERE id = ?",
                (state, event_id, json.dumps(meta) if meta is not None else None, message_id),
            )

    def set_thread(self, message_id: int, thread_id: str | None) -> None:
        """Move a stored message into a thread (a reply placed in a new thread when it was sent)."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE messages SET thread_id = ? WHERE id = ?", (thread_id, message_id))

    def undelivered(self, transport: str) -> list[int]:
        """Ids of the bot's messages on a transport still waiting to be sent, oldest first."""
        rows = self.store.query(
            "SELECT id FROM messages WHERE transport = ? AND delivery = 'pending' ORDER BY id", (transport,)
        )
        return [int(row["id"]) for row in rows]

    def set_display_name(self, user_id: str, display_name: str, *, is_bot: bool, ts: float) -> None:
        """Record a person's current display name (e.g. from a Matrix membership event)."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO users(user_id, display_name, is_bot, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET display_name = excluded.display_name",
                (user_id, display_name, int(is_bot), ts, ts),
            )

    def room_transport(self, room_id: str) -> str | None:
        """The transport a known room belongs to (None for a room never seen)."""
        value = self.store.scalar("SELECT transport FROM rooms WHERE room_id = ?", (room_id,))
        return str(value) if value is not None else None

    def exists(self, event_id: str) -> bool:
        """True when a message with this event id is stored."""
        return self.store.query_one("SELECT 1 FROM messages WHERE event_id = ?", (event_id,)) is not None

    def many(self, message_ids: list[int]) -> list[StoredMessage]:
        """The stored messages with these row ids, in id order (unknown ids are left out)."""
        result: list[StoredMessage] = []
        for start in range(0, len(message_ids), 900):  # below SQLite's bound-parameter limit
            chunk = message_ids[start:start + 900]
            rows = self.store.query(f"{_SELECT} WHERE m.id IN ({','.join('?' * len(chunk))}) ORDER BY m.id",
                                    tuple(chunk))
            result.extend(row_to_message(row) for row in rows)
        return result

    def after(self, message_id: int, limit: int = 2000) -> list[StoredMessage]:
        """Messages stored after row id `message_id`, oldest first (for catching up in batches)."""
        rows = self.store.query(f"{_SELECT} WHERE m.id > ? ORDER BY m.id LIMIT ?", (message_id, limit))
        return [row_to_message(row) for row in rows]

    def count_where(self, *, is_bot: bool | None = None, kind: str | None = None, since: float | None = None) -> int:
        """How many messages match: from the bot or people, of a kind, since a time."""
        clauses, params = self._filters(is_bot=is_bot, kind=kind, since=since)
        return int(self.store.scalar(f"SELECT count(*) FROM messages{clauses}", tuple(params)) or 0)

    def senders(self, *, since: float, room_id: str | None = None, limit: int | None = 10,
                scope: RoomScope | None = None) -> list[tuple[str, int]]:
        """The people who wrote most since a time (of a room, the rooms of `scope`, or all), with their message
        counts (None: all)."""
        clauses, params = self._filters(is_bot=False, since=since, room_id=room_id)
        if scope is not None and not scope.unrestricted:
            clause, scope_params = scope.sql("room_id")
            clauses = f"{clauses} AND {clause}" if clauses else f" WHERE {clause}"
            params = [*params, *scope_params]
        rows = self.store.query(
            f"SELECT sender, count(*) AS n FROM messages{clauses} GROUP BY sender ORDER BY n DESC, sender LIMIT ?",
            (*params, -1 if limit is None else limit),
        )
        return [(str(row["sender"]), int(row["n"])) for row in rows]

    @staticmethod
    def _filters(*, is_bot: bool | None = None, kind: str | None = None, since: float | None = None,
                 room_id: str | None = None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if is_bot is not None:
            clauses.append("is_bot = ?")
            params.append(int(is_bot))
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(since)
        if room_id is not None:
            clauses.append("room_id = ?")
            params.append(room_id)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def by_event_id(self, event_id: str) -> StoredMessage | None:
        """The stored message with this transport event id, if any."""
        row = self.store.query_one(f"{_SELECT} WHERE m.event_id = ?", (event_id,))
        return row_to_message(row) if row else None

    def get(self, message_id: int) -> StoredMessage | None:
        """The stored message with this row id, if any."""
        row = self.store.query_one(f"{_SELECT} WHERE m.id = ?", (message_id,))
        return row_to_message(row) if row else None

    def recent(self, room_id: str | None = None, limit: int = 100) -> list[StoredMessage]:
        """The newest messages (of a room, or all), oldest first."""
        if room_id is None:
            rows = self.store.query(f"{_SELECT} ORDER BY m.id DESC LIMIT ?", (limit,))
        else:
            rows = self.store.query(f"{_SELECT} WHERE m.room_id = ? ORDER BY m.id DESC LIMIT ?", (room_id, limit))
        return [row_to_message(row) for row in reversed(rows)]

    def thread(self, thread_id: str, limit: int = 200) -> list[StoredMessage]:
        """The messages of one thread, root first."""
        rows = self.store.query(
            f"{_SELECT} WHERE m.thread_id = ? OR m.event_id = ? ORDER BY m.id LIMIT ?", (thread_id, thread_id, limit)
        )
        return [row_to_message(row) for row in rows]

    def rooms(self) -> list[dict[str, Any]]:
        """Every known room with its message count, newest activity first."""
        rows = self.store.query(
            "SELECT r.room_id, r.transport, r.name, r.last_ts, "
            "(SELECT count(*) FROM messages m WHERE m.room_id = r.room_id) AS messages "
            "FROM rooms r ORDER BY r.last_ts DESC"
        )
        return [dict(row) for row in rows]

    def count(self) -> int:
        """How many messages are stored."""
        return int(self.store.scalar("SELECT count(*) FROM messages") or 0)

    def max_id(self) -> int:
        """The highest row id stored (0 when no message is)."""
        return int(self.store.scalar("SELECT coalesce(max(id), 0) FROM messages") or 0)

    def id_for_event(self, event_id: str) -> int | None:
        """The row id of the message with this transport event id (None when none is stored)."""
        value = self.store.scalar("SELECT id FROM messages WHERE event_id = ?", (event_id,))
        return int(value) if value is not None else None

    def event_id_of(self, message_id: int) -> str | None:
        """The transport event id of the message with this row id (None for an unknown id)."""
        value = self.store.scalar("SELECT event_id FROM messages WHERE id = ?", (message_id,))
        return str(value) if value is not None else None

    def count_unredacted_after(self, after_id: int, *, kind: str, until: int | None = None) -> int:
        """How many unredacted messages of a kind have a row id above `after_id` (and at most `until`)."""
        if until is None:
            value = self.store.scalar("SELECT count(*) FROM messages WHERE id > ? AND kind = ? AND redacted = 0",
                                      (after_id, kind))
        else:
            value = self.store.scalar("SELECT count(*) FROM messages WHERE id > ? AND id <= ? AND kind = ? "
                                      "AND redacted = 0", (after_id, until, kind))
        return int(value or 0)

    def nth_id_after(self, after_id: int, *, kind: str, offset: int) -> int | None:
        """The row id of the message of a kind `offset` places (0: the first) after row id `after_id`, if any."""
        value = self.store.scalar("SELECT id FROM messages WHERE id > ? AND kind = ? ORDER BY id LIMIT 1 OFFSET ?",
                                  (after_id, kind, offset))
        return int(value) if value is not None else None

    def id_window(self, after_id: int, until: int, *, kind: str, limit: int) -> list[tuple[int, bool]]:
        """Row ids and redacted flags of the first `limit` messages of a kind with ids in (`after_id`, `until`]."""
        rows = self.store.query(
            "SELECT id, redacted FROM messages WHERE id > ? AND id <= ? AND kind = ? ORDER BY id LIMIT ?",
            (after_id, until, kind, limit),
        )
        return [(int(row[0]), bool(row[1])) for row in rows]

    def embeddable(self, message_ids: list[int]) -> list[EmbeddableMessage]:
        """The unredacted, non-empty messages among these row ids, with the fields embedding needs, in id order."""
        rows = self.store.query(
            f"SELECT id, body, room_id, sender, thread_id, ts FROM messages WHERE id IN "
            f"({','.join('?' * len(message_ids))}) AND redacted = 0 AND body != '' ORDER BY id",
            tuple(message_ids),
        )
        return list(map(EmbeddableMessage._make, rows))  # a tuple per row: as cheap as the rows themselves

    def search(
        self,
        text: str,
        *,
        limit: int = 10,
        room_id: str | None = None,
        exclude_ids: tuple[int, ...] = (),
        include_bot: bool = False,
        scope: RoomScope | None = None,
    ) -> list[SearchHit]:
        """BM25 full-text search over message bodies (FTS5), best first, in `room_id` and/or the rooms of `scope`."""
        query = fts_query(text)
        if not query:
            return []
        clauses = ["messages_fts MATCH ?", "m.redacted = 0"]
        params: list[Any] = [query]
        if not include_bot:
            clauses.append("m.is_bot = 0")
        if room_id is not None:
            clauses.append("m.room_id = ?")
            params.append(room_id)
        if scope is not None and not scope.unrestricted:
            clause, scope_params = scope.sql("m.room_id")
            clauses.append(clause)
            params.extend(scope_params)
        if exclude_ids:
            clauses.append(f"m.id NOT IN ({','.join('?' * len(exclude_ids))})")
            params.extend(exclude_ids)
        params.append(limit)
        rows = self.store.query(
            "SELECT m.*, u.display_name AS display_name, bm25(messages_fts) AS rank FROM messages_fts "
            "JOIN messages m ON m.id = messages_fts.rowid LEFT JOIN users u ON u.user_id = m.sender "
            f"WHERE {' AND '.join(clauses)} ORDER BY rank LIMIT ?",
            tuple(params),
        )
        return [SearchHit(row_to_message(row), float(row["rank"])) for row in rows]

    def update_body(self, message_id: int, body: str, edited_ts: float) -> None:
        """Replace a message's body (an edit); the FTS index follows through its trigger."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE messages SET body = ?, edited_ts = ? WHERE id = ?", (body, edited_ts, message_id))

    def redact(self, message_id: int) -> None:
        """Remove a message's content (a redaction); the row stays as a tombstone, the index forgets it."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE messages SET body = '', redacted = 1, meta = '{}' WHERE id = ?", (message_id,))

    def update_meta(self, message_id: int, meta: dict[str, Any]) -> None:
        """Merge keys into a message's metadata."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT meta FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return
            merged = json.loads(row["meta"] or "{}")
            merged.update(meta)
            conn.execute("UPDATE messages SET meta = ? WHERE id = ?", (json.dumps(merged), message_id))
