"""Messages, rooms and users: durable writes, lookups and BM25 full-text search (FTS5)."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from hololoom_core.models import ChatMessage, StoredMessage
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


class MessageStore:
    """Reads and writes the `messages`, `rooms` and `users` tables."""

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
    ) -> StoredMessage | None:
        """Store a message with its (already redacted) body; None if its event id was stored before."""
        with self.store.transaction() as conn:
            self._upsert_room(conn, message.room_id, message.transport, message.room_name, message.ts)
            self._upsert_user(conn, message.sender, message.sender_name, is_bot, message.ts)
            cursor = conn.execute(
                "INSERT INTO messages(event_id, transport, room_id, thread_id, reply_to, sender, body, ts, is_bot, "
                "kind, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING",
                (
                    message.event_id,
                    message.transport,
                    message.room_id,
                    message.thread_id,
                    message.reply_to,
                    message.sender,
                    body,
                    message.ts,
                    int(is_bot),
                    kind,
                    json.dumps(meta or {}),
                ),
            )
            if cursor.rowcount == 0:
                return None
            row_id = cursor.lastrowid
        assert row_id is not None
        return StoredMessage(
            id=row_id,
            event_id=message.event_id,
            transport=message.transport,
            room_id=message.room_id,
            sender=message.sender,
            body=body,
            ts=message.ts,
            thread_id=message.thread_id,
            reply_to=message.reply_to,
            sender_name=message.sender_name,
            is_bot=is_bot,
            kind=kind,
            meta=meta or {},
        )

    @staticmethod
    def _upsert_room(conn: sqlite3.Connection, room_id: str, transport: str, name: str | None, ts: float) -> None:
        conn.execute(
            "INSERT INTO rooms(room_id, transport, name, created_ts, last_ts) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(room_id) DO UPDATE SET last_ts = max(last_ts, excluded.last_ts), "
            "name = coalesce(excluded.name, rooms.name)",
            (room_id, transport, name, ts, ts),
        )

    @staticmethod
    def _upsert_user(conn: sqlite3.Connection, user_id: str, name: str | None, is_bot: bool, ts: float) -> None:
        conn.execute(
            "INSERT INTO users(user_id, display_name, is_bot, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen), "
            "display_name = coalesce(excluded.display_name, users.display_name)",
            (user_id, name, int(is_bot), ts, ts),
        )

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

    def search(
        self,
        text: str,
        *,
        limit: int = 10,
        room_id: str | None = None,
        exclude_ids: tuple[int, ...] = (),
        include_bot: bool = False,
    ) -> list[SearchHit]:
        """BM25 full-text search over message bodies (FTS5), best first."""
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
