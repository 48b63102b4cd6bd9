"""Tracked items: decisions (active or reversed), action items (open or done), questions (open or answered).

Each item is a row of `memory_items` linked to the insight and the message it came from, and a
node of the knowledge graph. Later messages change an item's state: a reversing decision
(`supersedes`), an answer (`answered_by`), a completion (`done_in`).
"""

from __future__ import annotations

import builtins  # `list` below is a method; annotations after it name the built-in explicitly
import dataclasses
import sqlite3
from dataclasses import dataclass
from typing import Any

from hololoom_core.memory.graph import MemoryGraph, item_key, message_key
from hololoom_core.models import Insight, StoredMessage
from hololoom_core.rooms import RoomScope
from hololoom_core.store.db import Store
from hololoom_core.text.terms import stem, term_set

TRACKED_KINDS = ("decision", "action_item", "question")
_OPEN_CACHE = 50
OPEN_STATUS = {"decision": "active", "action_item": "open", "question": "open"}

# Words that say "this is a decision/task" rather than what it is about; ignored when comparing items.
_FRAMING = frozenset(
    stem(word)
    for word in (
        "decided decide decision agreed agree settled chose choose going go gonna will shall instead plan "
        "plans final call answer let lets we our team everyone done fixed action item todo follow up "
        "reverse reversing reversed revert scrap scratch change changed mind minds not won't dont don't "
        "no longer after all second thought overrule overruled cancel cancelled canceled called off back out "
        "actually stick stay keep use"
    ).split()
)


@dataclass(slots=True)
class Item:
    """A tracked decision, action item or question."""

    id: int
    insight_id: int | None
    kind: str
    room_id: str
    thread_id: str | None
    message_id: int
    event_id: str
    author: str
    text: str
    owner: str | None
    due: str | None
    status: str
    status_message_id: int | None
    status_ts: float | None
    superseded_by: int | None
    confidence: float
    ts: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "id": self.id, "kind": self.kind, "room": self.room_id, "thread": self.thread_id,
            "message_id": self.message_id, "event_id": self.event_id, "author": self.author, "text": self.text,
            "owner": self.owner, "due": self.due, "status": self.status,
            "status_message_id": self.status_message_id, "status_ts": self.status_ts,
            "superseded_by": self.superseded_by, "confidence": round(self.confidence, 3), "ts": self.ts,
        }


def _item(row: sqlite3.Row) -> Item:
    return Item(
        row["id"], row["insight_id"], row["kind"], row["room_id"], row["thread_id"], row["message_id"],
        row["event_id"], row["author"], row["text"], row["owner"], row["due"], row["status"],
        row["status_message_id"], row["status_ts"], row["superseded_by"], row["confidence"], row["ts"],
    )


def subject_terms(text: str) -> frozenset[str]:
    """The content terms of an item's text, without the words that only frame it as a decision or task."""
    return frozenset(term for term in term_set(text) if term not in _FRAMING)


def containment(earlier: frozenset[str], later: frozenset[str]) -> float:
    """The share of `earlier`'s terms that `later` repeats (0 when `earlier` is empty)."""
    if not earlier:
        return 0.0
    return len(earlier & later) / len(earlier)


class ItemTracker:
    """Reads and changes tracked items, keeping the graph and the core `insights` status in step."""

    def __init__(self, store: Store, graph: MemoryGraph) -> None:
        self.store = store
        self.graph = graph
        # Open items per (room, kind), newest first, so matching a new message needs no query.
        self._open: dict[tuple[str, str], list[Item]] = {}
        self._terms: dict[int, frozenset[str]] = {}
        self._message_terms: tuple[int, str, frozenset[str]] = (0, "", frozenset())
        # Batch mode (`begin_batch`): new items wait here, keyed by the id they will have, and are
        # written with one executemany by `flush_batch`; status changes of waiting insights too.
        self._batch: dict[int, Item] | None = None
        self._next_id = 0
        self.insight_status: dict[int, str] = {}

    def _words(self, message: StoredMessage) -> frozenset[str]:
        """The terms of a message's body (the last message's are kept: several matchers ask for them)."""
        message_id, body, words = self._message_terms
        if message_id != message.id or body is not message.body:
            words = term_set(message.body)
            self._message_terms = (message.id, message.body, words)
        return words

    def invalidate(self, room_id: str | None = None, kind: str | None = None) -> None:
        """Forget cached open items (of one room and kind, or all)."""
        if room_id is None or kind is None:
            self._open.clear()
        else:
            self._open.pop((room_id, kind), None)

    def _drop_open(self, room_id: str, kind: str, item_id: int) -> None:
        """Take a no-longer-open item out of the cache (the cache stays valid, no reload needed)."""
        cached = self._open.get((room_id, kind))
        if cached is not None:
            cached[:] = [item for item in cached if item.id != item_id]

    def _open_items(self, room_id: str, kind: str) -> list[Item]:
        key = (room_id, kind)
        cached = self._open.get(key)
        if cached is None:
            cached = self.list(kind, room_id=room_id, status=OPEN_STATUS[kind], limit=_OPEN_CACHE)
            self._open[key] = cached
        return cached

    def _subject(self, item: Item) -> frozenset[str]:
        found = self._terms.get(item.id)
        if found is None:
            found = subject_terms(item.text)
            if len(self._terms) > 20_000:
                self._terms.clear()
            self._terms[item.id] = found
        return found

    # -- reading -----------------------------------------------------------------------------

    def get(self, item_id: int) -> Item | None:
        """One item by id."""
        row = self.store.query_one("SELECT * FROM memory_items WHERE id = ?", (item_id,))
        return _item(row) if row else None

    def list(
        self,
        kind: str,
        *,
        room_id: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        thread_id: str | None = None,
        since: float | None = None,
        limit: int = 50,
        scope: RoomScope | None = None,
    ) -> list[Item]:
        """Items of one kind, newest first, filtered by room (or the rooms of `scope`), status, owner, thread
        and age."""
        clauses: list[str] = ["kind = ?"]
        params: list[Any] = [kind]
        for column, value in (("room_id", room_id), ("status", status), ("owner", owner),
                              ("thread_id", thread_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if scope is not None and not scope.unrestricted:
            clause, scope_params = scope.sql("room_id")
            clauses.append(clause)
            params.extend(scope_params)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(since)
        params.append(limit)
        rows = self.store.query(
            f"SELECT * FROM memory_items WHERE {' AND '.join(clauses)} ORDER BY ts DESC, id DESC LIMIT ?",
            tuple(params),
        )
        return [_item(row) for row in rows]

    def by_messages(self, message_ids: builtins.list[int]) -> builtins.list[Item]:
        """The items stated by any of these messages."""
        if not message_ids:
            return []
        rows = self.store.query(
            f"SELECT * FROM memory_items WHERE message_id IN ({','.join('?' * len(message_ids))}) ORDER BY id",
            tuple(message_ids),
        )
        return [_item(row) for row in rows]

    def for_message(self, message_id: int) -> builtins.list[Item]:
        """The items a message stated."""
        return [_item(r) for r in self.store.query("SELECT * FROM memory_items WHERE message_id = ?", (message_id,))]

    # -- matching later messages to earlier items ---------------------------------------------

    def reversal_target(self, message: StoredMessage, text: str, markers: tuple[Any, ...],
                        min_overlap: float, max_age_days: float) -> tuple[Item, float] | None:
        """The earlier active decision in the room that this decision reverses, with the overlap, if any."""
        if not any(marker.search(text) for marker in markers):
            return None
        later = subject_terms(text)
        best: tuple[Item, float] | None = None
        since = message.ts - max_age_days * 86400
        for item in self._open_items(message.room_id, "decision")[:30]:
            if item.message_id == message.id or item.ts < since:
                continue
            overlap = containment(self._subject(item), later)
            if overlap >= min_overlap and (best is None or overlap > best[1]):
                best = (item, overlap)
        return best

    def answered_question(self, message: StoredMessage, window_minutes: float, min_overlap: float,
                          reply_confidence: float, nearby_confidence: float) -> tuple[Item, float, str] | None:
        """The open question this message answers (by reply, thread or nearby content), with confidence."""
        since = message.ts - window_minutes * 60
        candidates: list[Item] = []
        for item in self._open_items(message.room_id, "question"):  # newest first
            if item.ts < since:
                break
            if item.message_id < message.id and item.author != message.sender:
                candidates.append(item)
                if len(candidates) == 20:
                    break
        if not candidates:
            return None
        words = self._words(message)
        mention = message.body.lower() if "@" in message.body else ""
        best: tuple[Item, float, str] | None = None
        for item in candidates:
            if item.author == message.sender:
                continue
            if message.reply_to and message.reply_to == item.event_id:
                return item, reply_confidence, "reply"
            if message.thread_id and message.thread_id in (item.event_id, item.thread_id) and item.thread_id != "":
                if best is None or best[2] != "thread":
                    best = (item, reply_confidence, "thread")
                continue
            if best is not None:
                continue
            overlap = containment(self._subject(item), words)
            addressed = bool(mention) and f"@{item.author.lstrip('@').split(':', 1)[0].lower()}" in mention
            if overlap >= min_overlap or (addressed and overlap > 0):
                best = (item, nearby_confidence, "nearby")
        return best

    def completed_action(self, message: StoredMessage, patterns: tuple[Any, ...], min_overlap: float,
                         window_days: float) -> tuple[Item, float] | None:
        """The open action item this message reports done (by its owner, or in its thread), if any."""
        if not any(pattern.search(message.body) for pattern in patterns):
            return None
        since = message.ts - window_days * 86400
        candidates = [item for item in self._open_items(message.room_id, "action_item")
                      if item.ts >= since and item.message_id < message.id][:30]
        if not candidates:
            return None
        words = self._words(message)
        sender = message.sender.lstrip("@").split(":", 1)[0].lower()
        best: tuple[Item, float] | None = None
        for item in candidates:
            same_thread = bool(message.thread_id) and message.thread_id in (item.thread_id, item.event_id)
            replying = message.reply_to == item.event_id
            owns = (item.owner or "") == sender or (item.owner is None and item.author == message.sender)
            if not (same_thread or replying or owns):
                continue
            overlap = containment(self._subject(item), words)
            if replying or (overlap >= min_overlap):
                confidence = 0.9 if replying else 0.6 + 0.3 * min(1.0, overlap)
                if best is None or confidence > best[1]:
                    best = (item, confidence)
        return best

    def restated_action(self, message: StoredMessage, owner: str | None, text: str, window_days: float = 1.0,
                        min_overlap: float = 0.6) -> Item | None:
        """An open action item of the same owner that this one only restates ("Ack, I'll add the alert")."""
        if not owner:
            return None
        words = subject_terms(text)
        if not words:
            return None
        since = message.ts - window_days * 86400
        for item in self._open_items(message.room_id, "action_item"):
            if item.ts < since:
                break
            if item.message_id < message.id and (item.owner or "") == owner:
                if containment(words, self._subject(item)) >= min_overlap:
                    return item
        return None

    # -- recording ---------------------------------------------------------------------------

    def begin_batch(self, conn: sqlite3.Connection) -> None:
        """Hold new items in memory until `flush_batch` (inside the caller's write transaction)."""
        self._batch = {}
        self.insight_status = {}
        self._next_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM memory_items").fetchone()[0]) + 1

    def flush_batch(self, conn: sqlite3.Connection) -> int:
        """Write the held items with one executemany (after their insights are written); returns how many."""
        held = self._batch or {}
        self._batch = None
        if held:
            conn.executemany(
                "INSERT INTO memory_items(id, insight_id, kind, room_id, thread_id, message_id, event_id, author, "
                "text, owner, due, status, status_message_id, status_ts, superseded_by, confidence, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(i.id, i.insight_id, i.kind, i.room_id, i.thread_id, i.message_id, i.event_id, i.author, i.text,
                  i.owner, i.due, i.status, i.status_message_id, i.status_ts, i.superseded_by, i.confidence, i.ts)
                 for i in held.values()],
            )
        return len(held)

    def discard_batch(self) -> None:
        """Drop held items (their transaction rolled back) and the cached open items that may list them."""
        self._batch = None
        self.insight_status = {}
        self.invalidate()

    def _set_insight_status(self, conn: sqlite3.Connection, insight_id: int, status: str) -> None:
        if self._batch is not None:
            self.insight_status[insight_id] = status  # applied to held insight rows by the writer
        conn.execute("UPDATE insights SET status = ? WHERE id = ?", (status, insight_id))

    def record(self, conn: sqlite3.Connection, insight: Insight, message: StoredMessage) -> Item | None:
        """Turn a stored insight into item rows and graph edges (inside the caller's transaction)."""
        data = insight.data
        if insight.kind in TRACKED_KINDS:
            if self._batch is not None:
                self._open_items(message.room_id, insight.kind)  # load the cache before it gains a held item
                item_id = self._next_id
                self._next_id += 1
            else:
                cursor = conn.execute(
                    "INSERT INTO memory_items(insight_id, kind, room_id, thread_id, message_id, event_id, author, "
                    "text, owner, due, status, confidence, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (insight.id, insight.kind, message.room_id, message.thread_id, message.id, message.event_id,
                     message.sender, insight.text, data.get("owner"), data.get("due"), OPEN_STATUS[insight.kind],
                     insight.confidence, message.ts),
                )
                item_id = int(cursor.lastrowid or 0)
            self.graph.add_item(conn, insight.kind, item_id, insight.text, message, owner=data.get("owner"),
                                data={"status": OPEN_STATUS[insight.kind]})
            if insight.kind == "decision" and data.get("supersedes"):
                self._supersede(conn, int(data["supersedes"]), item_id, message)
            item = Item(item_id, insight.id, insight.kind, message.room_id, message.thread_id, message.id,
                        message.event_id, message.sender, insight.text, data.get("owner"), data.get("due"),
                        OPEN_STATUS[insight.kind], None, None, None, insight.confidence, message.ts)
            if self._batch is not None:
                self._batch[item_id] = item
            cached = self._open.get((message.room_id, insight.kind))
            if item is not None and cached is not None:
                cached.insert(0, item)
                del cached[_OPEN_CACHE:]
            return item
        if insight.kind == "answer" and data.get("question_id"):
            return self._close(conn, int(data["question_id"]), "answered", "answered_by", message)
        if insight.kind == "action_done" and data.get("action_id"):
            return self._close(conn, int(data["action_id"]), "done", "done_in", message)
        return None

    def _get(self, conn: sqlite3.Connection, item_id: int) -> Item | None:
        if self._batch is not None and item_id in self._batch:
            return dataclasses.replace(self._batch[item_id])
        row = conn.execute("SELECT * FROM memory_items WHERE id = ?", (item_id,)).fetchone()
        return _item(row) if row else None

    def _supersede(self, conn: sqlite3.Connection, old_id: int, new_id: int, message: StoredMessage) -> None:
        old = self._get(conn, old_id)
        if old is None or old.status != "active":
            return
        self._drop_open(old.room_id, "decision", old.id)
        held = self._batch.get(old_id) if self._batch is not None else None
        if held is not None:
            held.status, held.superseded_by, held.status_message_id, held.status_ts = (
                "reversed", new_id, message.id, message.ts)
        else:
            conn.execute(
                "UPDATE memory_items SET status = 'reversed', superseded_by = ?, status_message_id = ?, "
                "status_ts = ? WHERE id = ?",
                (new_id, message.id, message.ts, old_id),
            )
        if old.insight_id is not None:
            self._set_insight_status(conn, old.insight_id, "reversed")
        self.graph.link(conn, item_key("decision", new_id), item_key("decision", old_id), "supersedes", message)
        self.graph.set_node_data(conn, item_key("decision", old_id), status="reversed", superseded_by=new_id)

    def _close(self, conn: sqlite3.Connection, item_id: int, status: str, relation: str,
               message: StoredMessage) -> Item | None:
        item = self._get(conn, item_id)
        if item is None or item.status != OPEN_STATUS[item.kind]:
            return None
        self._drop_open(item.room_id, item.kind, item.id)
        held = self._batch.get(item_id) if self._batch is not None else None
        if held is not None:
            held.status, held.status_message_id, held.status_ts = status, message.id, message.ts
        else:
            conn.execute(
                "UPDATE memory_items SET status = ?, status_message_id = ?, status_ts = ? WHERE id = ?",
                (status, message.id, message.ts, item_id),
            )
        if item.insight_id is not None:
            self._set_insight_status(conn, item.insight_id, status)
        key = item_key(item.kind, item_id)
        self.graph.link(conn, key, message_key(message.id), relation, message)
        self.graph.set_node_data(conn, key, status=status)
        return self._get(conn, item_id)

    def set_status(self, item_id: int, status: str, message: StoredMessage | None = None) -> Item | None:
        """Mark an item done/answered/open by hand (the `!actions done N` command)."""
        with self.store.transaction() as conn:
            item = self._get(conn, item_id)
            if item is None:
                return None
            self.invalidate(item.room_id, item.kind)
            conn.execute(
                "UPDATE memory_items SET status = ?, status_message_id = ?, status_ts = ? WHERE id = ?",
                (status, message.id if message else None, message.ts if message else None, item_id),
            )
            if item.insight_id is not None:
                conn.execute("UPDATE insights SET status = ? WHERE id = ?", (status, item.insight_id))
            self.graph.set_node_data(conn, item_key(item.kind, item_id), status=status)
            return self._get(conn, item_id)

    def forget_message(self, conn: sqlite3.Connection, message_id: int) -> builtins.list[str]:
        """Delete the items a message stated (and reopen items it had closed); returns their graph keys."""
        self.invalidate()
        keys = [item_key(row["kind"], row["id"]) for row in
                conn.execute("SELECT id, kind FROM memory_items WHERE message_id = ?", (message_id,))]
        for row in conn.execute("SELECT id, kind, insight_id FROM memory_items WHERE status_message_id = ?",
                                (message_id,)).fetchall():
            status = OPEN_STATUS[row["kind"]]
            conn.execute("UPDATE memory_items SET status = ?, status_message_id = NULL, status_ts = NULL, "
                         "superseded_by = NULL WHERE id = ?", (status, row["id"]))
            if row["insight_id"] is not None:
                conn.execute("UPDATE insights SET status = 'open' WHERE id = ?", (row["insight_id"],))
            self.graph.set_node_data(conn, item_key(row["kind"], row["id"]), status=status)
        conn.execute("DELETE FROM memory_items WHERE message_id = ?", (message_id,))
        return keys
