"""The knowledge graph: users, rooms, threads, messages, entities and tracked items, with provenance.

Every node and edge is a row in SQLite (`memory_nodes`, `memory_edges`) written inside the
transaction that stores its message, and carries the message id, event id and time that put it
there. The networkx view (`MemoryGraph.graph`) is rebuilt from those rows on first use, so starting
the engine stays cheap and only the modes that walk the graph (fused retrieval) pay for it.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hololoom_core.lazyimport import lazy_module
from hololoom_core.models import StoredMessage
from hololoom_core.store.db import Store
from hololoom_core.store.messages import MessageStore
from hololoom_core.text.entities import Entity

if TYPE_CHECKING:
    import networkx as nx
else:
    nx = lazy_module("networkx")  # loaded when the graph view is first built

# Relations that make a node "mentioned" by a message; a node none of these point at any more is removed.
MESSAGE_RELATIONS = ("authored_by", "in_room", "in_thread", "mentions")
# Entity kinds whose labels are split into words for matching plain query words ("checkout" → checkout-api).
_TOKEN_KINDS = {"service", "host", "incident", "error_code", "person", "commit", "file"}
_TOKEN = re.compile(r"[a-z0-9]+")


def message_key(message_id: int) -> str:
    """The node key of a stored message."""
    return f"message:{message_id}"


def item_key(kind: str, item_id: int) -> str:
    """The node key of a tracked decision, action item or question."""
    return f"{kind}:{item_id}"


@dataclass(slots=True)
class _NodeChange:
    kind: str
    label: str
    message_id: int | None
    event_id: str | None
    ts: float
    last_ts: float
    count: int
    data: dict[str, Any]
    unique: bool = False


@dataclass(slots=True)
class _Pending:
    """Rows waiting to be written at the end of a message (or of a batch of messages)."""

    nodes: dict[str, _NodeChange] = field(default_factory=dict)
    edges: list[tuple[str, str, str, int | None, str | None, float, str]] = field(default_factory=list)


class MemoryGraph:
    """The durable knowledge graph and its lazily built networkx view."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.messages = MessageStore(store)
        self._graph: nx.MultiDiGraph | None = None
        self._tokens: dict[str, set[str]] = {}
        self._pending = _Pending()
        self._batch_depth = 0
        self._event_ids: dict[str, int] = {}

    # -- the in-memory view ------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """True once the networkx view has been built."""
        return self._graph is not None

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The networkx view of the graph (built from SQLite on first use)."""
        if self._graph is None:
            self._graph = self._load()
        return self._graph

    def _load(self) -> nx.MultiDiGraph:
        graph: nx.MultiDiGraph = nx.MultiDiGraph()
        tokens: dict[str, set[str]] = {}
        for row in self.store.query(
            "SELECT key, kind, label, message_id, event_id, ts, last_ts, mentions, data FROM memory_nodes"
        ):
            attrs = {
                "kind": row["kind"], "label": row["label"], "message_id": row["message_id"],
                "event_id": row["event_id"], "ts": row["ts"], "last_ts": row["last_ts"],
                "mentions": row["mentions"],
            }
            if row["data"] != "{}":
                attrs.update(json.loads(row["data"]))
            graph.add_node(row["key"], **attrs)
            if row["kind"] in _TOKEN_KINDS:
                for token in _TOKEN.findall(row["label"].lower()):
                    tokens.setdefault(token, set()).add(row["key"])
        graph.add_edges_from(  # (u, v, key, data): a multigraph's 4-tuples, which the networkx stubs omit
            (row[0], row[1], row[2], {"message_id": row[3], "event_id": row[4], "ts": row[5]})  # type: ignore[misc]
            for row in self.store.conn.execute(
                "SELECT src, dst, relation, message_id, event_id, ts FROM memory_edges ORDER BY id"
            )
        )
        self._tokens = tokens
        return graph

    # -- writing -----------------------------------------------------------------------------

    def begin_batch(self) -> None:
        """Hold writes until `end_batch` (bulk ingest writes many messages' rows at once)."""
        self._batch_depth += 1

    def end_batch(self, conn: sqlite3.Connection) -> None:
        """Write everything held since `begin_batch`."""
        self._batch_depth = max(0, self._batch_depth - 1)
        if self._batch_depth == 0:
            self.flush(conn)

    def discard_pending(self) -> None:
        """Drop held rows (their transaction rolled back)."""
        self._pending = _Pending()
        self._event_ids.clear()
        self._graph = None

    def add_message(self, conn: sqlite3.Connection, message: StoredMessage, entities: list[Entity]) -> None:
        """Add a message node with its author, room, thread, reply and entity edges (inside its transaction)."""
        key = message_key(message.id)
        ts, mid, eid = message.ts, message.id, message.event_id
        self._node(key, "message", f"message {mid}", mid, eid, ts, {}, unique=True)
        user = f"user:{message.sender}"
        self._node(user, "user", message.author, mid, eid, ts, {"is_bot": message.is_bot})
        self._edge(key, user, "authored_by", mid, eid, ts)
        room = f"room:{message.room_id}"
        self._node(room, "room", message.room_id, mid, eid, ts, {})
        self._edge(key, room, "in_room", mid, eid, ts)
        if message.thread_id:
            thread = f"thread:{message.thread_id}"
            self._node(thread, "thread", message.thread_id, mid, eid, ts, {"room": message.room_id})
            self._edge(key, thread, "in_thread", mid, eid, ts)
        if message.reply_to:
            target = self._message_id_for_event(message.reply_to)
            if target is not None:
                self._edge(key, message_key(target), "replies_to", mid, eid, ts)
        seen: set[str] = set()
        for entity in entities:
            if entity.key in seen:
                continue
            seen.add(entity.key)
            self._node(entity.key, entity.kind, entity.value, mid, eid, ts, {})
            self._edge(key, entity.key, "mentions", mid, eid, ts)
        self._event_ids[eid] = mid
        if len(self._event_ids) > 50_000:
            self._event_ids.clear()
        if self._batch_depth == 0:
            self.flush(conn)

    def add_item(
        self,
        conn: sqlite3.Connection,
        kind: str,
        item_id: int,
        text: str,
        message: StoredMessage,
        owner: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> str:
        """Add a decision, action item or question node, stated in `message` (and owned by `owner`)."""
        key = item_key(kind, item_id)
        mid, eid, ts = message.id, message.event_id, message.ts
        self._node(key, kind, text[:200], mid, eid, ts, {"room": message.room_id, **(data or {})}, unique=True)
        self._edge(key, message_key(mid), "stated_in", mid, eid, ts)
        if owner:
            person = f"person:{owner.lstrip('@').split(':', 1)[0].lower()}"
            self._node(person, "person", person.split(":", 1)[1], mid, eid, ts, {})
            self._edge(key, person, "owned_by", mid, eid, ts)
        if self._batch_depth == 0:
            self.flush(conn)
        return key

    def link(
        self, conn: sqlite3.Connection, src: str, dst: str, relation: str, message: StoredMessage
    ) -> None:
        """Add one edge (`supersedes`, `answered_by`, `done_in`) whose provenance is `message`."""
        self._edge(src, dst, relation, message.id, message.event_id, message.ts)
        if self._batch_depth == 0:
            self.flush(conn)

    def set_node_data(self, conn: sqlite3.Connection, key: str, **changes: Any) -> None:
        """Merge attributes into a node (for example `status: reversed`), without breaking a write batch."""
        pending = self._pending.nodes.get(key)
        if pending is not None:
            pending.data = {**pending.data, **changes}
        patch = json.dumps(changes)
        conn.execute("UPDATE memory_nodes SET data = json_patch(data, ?) WHERE key = ?", (patch, key))
        if self._graph is not None and key in self._graph:
            self._graph.nodes[key].update(changes)

    def _message_id_for_event(self, event_id: str) -> int | None:
        if event_id in self._event_ids:
            return self._event_ids[event_id]
        return self.messages.id_for_event(event_id)  # inside a transaction: the store's one connection

    def _node(
        self, key: str, kind: str, label: str, message_id: int | None, event_id: str | None, ts: float,
        data: dict[str, Any], unique: bool = False,
    ) -> None:
        change = self._pending.nodes.get(key)
        if change is None:
            self._pending.nodes[key] = _NodeChange(kind, label, message_id, event_id, ts, ts, 1, data, unique)
        else:
            change.count += 1
            change.last_ts = max(change.last_ts, ts)
            if ts < change.ts:
                change.ts, change.message_id, change.event_id = ts, message_id, event_id

    def _edge(self, src: str, dst: str, relation: str, message_id: int | None, event_id: str | None,
              ts: float) -> None:
        self._pending.edges.append((src, dst, relation, message_id, event_id, ts, "{}"))

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write the held node and edge rows (and mirror them into the networkx view if it is built)."""
        pending = self._pending
        if not pending.nodes and not pending.edges:
            return
        self._pending = _Pending()
        upserts: list[tuple[Any, ...]] = []
        inserts: list[tuple[Any, ...]] = []
        for key, change in pending.nodes.items():
            row = (key, change.kind, change.label, change.message_id, change.event_id, change.ts,
                   change.last_ts, change.count, json.dumps(change.data, separators=(",", ":")) if change.data else "{}")
            (inserts if change.unique else upserts).append(row)
        if inserts:
            conn.executemany(
                "INSERT OR REPLACE INTO memory_nodes(key, kind, label, message_id, event_id, ts, last_ts, mentions, "
                "data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                inserts,
            )
        if upserts:
            conn.executemany(
                "INSERT INTO memory_nodes(key, kind, label, message_id, event_id, ts, last_ts, mentions, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "mentions = mentions + excluded.mentions, last_ts = max(last_ts, excluded.last_ts)",
                upserts,
            )
        conn.executemany(
            "INSERT INTO memory_edges(src, dst, relation, message_id, event_id, ts, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            pending.edges,
        )
        graph = self._graph
        if graph is None:
            return
        for key, change in pending.nodes.items():
            if key in graph:
                attrs = graph.nodes[key]
                attrs["mentions"] = attrs.get("mentions", 0) + change.count
                attrs["last_ts"] = max(attrs.get("last_ts", change.last_ts), change.last_ts)
                continue
            graph.add_node(key, kind=change.kind, label=change.label, message_id=change.message_id,
                           event_id=change.event_id, ts=change.ts, last_ts=change.last_ts,
                           mentions=change.count, **change.data)
            if change.kind in _TOKEN_KINDS:
                for token in _TOKEN.findall(change.label.lower()):
                    self._tokens.setdefault(token, set()).add(key)
        for src, dst, relation, message_id, event_id, ts, _ in pending.edges:
            graph.add_edge(src, dst, relation, message_id=message_id, event_id=event_id, ts=ts)

    # -- forgetting --------------------------------------------------------------------------

    def forget_message(self, conn: sqlite3.Connection, message_id: int, item_keys: Iterable[str] = ()) -> int:
        """Remove a message's node, every edge it is the provenance of, its items, and nodes left unmentioned.

        Nodes still mentioned by other messages stay, with their provenance moved to the earliest
        remaining message. Returns how many rows were removed.
        """
        self.flush(conn)
        key = message_key(message_id)
        doomed_nodes = {key, *item_keys}
        placeholders = ",".join("?" * len(doomed_nodes))
        touched = {
            row["dst"]
            for row in conn.execute("SELECT DISTINCT dst FROM memory_edges WHERE message_id = ?", (message_id,))
        }
        removed = conn.execute(
            f"DELETE FROM memory_edges WHERE message_id = ? OR src IN ({placeholders}) OR dst IN ({placeholders})",
            (message_id, *doomed_nodes, *doomed_nodes),
        ).rowcount
        removed += conn.execute(
            f"DELETE FROM memory_nodes WHERE key IN ({placeholders})", tuple(doomed_nodes)
        ).rowcount
        for node in touched - doomed_nodes:
            row = conn.execute(
                "SELECT count(*) AS n, min(message_id) AS first_id, min(ts) AS first_ts, max(ts) AS last_ts "
                f"FROM memory_edges WHERE dst = ? AND relation IN ({','.join('?' * len(MESSAGE_RELATIONS))})",
                (node, *MESSAGE_RELATIONS),
            ).fetchone()
            linked = conn.execute(
                "SELECT count(*) FROM memory_edges WHERE src = ? OR dst = ?", (node, node)
            ).fetchone()[0]
            if row["n"] == 0 and linked == 0:
                removed += conn.execute("DELETE FROM memory_nodes WHERE key = ?", (node,)).rowcount
            elif row["n"]:
                first_event_id = self.messages.event_id_of(row["first_id"])  # inside `conn`'s transaction
                conn.execute(
                    "UPDATE memory_nodes SET mentions = ?, message_id = ?, event_id = ?, ts = ?, last_ts = ? "
                    "WHERE key = ?",
                    (row["n"], row["first_id"], first_event_id, row["first_ts"],
                     row["last_ts"], node),
                )
        self._event_ids = {e: m for e, m in self._event_ids.items() if m != message_id}
        if self._graph is not None:
            self._graph = None  # rebuilt from the rows on next use: simplest way to stay exact
        return removed

    # -- reading -----------------------------------------------------------------------------

    def node(self, key: str) -> dict[str, Any] | None:
        """A node's stored attributes (with provenance), read from SQLite."""
        row = self.store.query_one("SELECT * FROM memory_nodes WHERE key = ?", (key,))
        if row is None:
            return None
        result = dict(row)
        result["data"] = json.loads(result["data"] or "{}")
        return result

    def edges(self, key: str) -> list[dict[str, Any]]:
        """Every stored edge from or to a node, with provenance, oldest first."""
        rows = self.store.query(
            "SELECT src, dst, relation, message_id, event_id, ts FROM memory_edges WHERE src = ? OR dst = ? "
            "ORDER BY id",
            (key, key),
        )
        return [dict(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many nodes of each kind and how many edges are stored."""
        counts = {row["kind"]: int(row["n"]) for row in
                  self.store.query("SELECT kind, count(*) AS n FROM memory_nodes GROUP BY kind")}
        counts["edges"] = int(self.store.scalar("SELECT count(*) FROM memory_edges") or 0)
        return counts

    def query_entities(self, entity_keys: Iterable[str], words: Iterable[str]) -> list[str]:
        """The entity nodes a query refers to: its extracted entities plus entities whose label has its words."""
        graph = self.graph
        keys = [key for key in entity_keys if key in graph]
        for word in words:
            for key in sorted(self._tokens.get(word, ())):
                if key not in keys:
                    keys.append(key)
        return keys

    def neighbourhood(self, entity_keys: list[str], *, limit: int = 50,
                      seed_messages: Iterable[int] = ()) -> list[tuple[int, float]]:
        """Messages near the query in the graph: those mentioning its entities (rarer entities weigh more)
        and those sharing a thread with the seed messages; best first."""
        graph = self.graph
        scores: dict[int, float] = {}
        for key in entity_keys:
            mentioners = [src for src, _, rel in graph.in_edges(key, keys=True) if rel == "mentions"]
            if not mentioners:
                continue
            weight = 1.0 / math.log(2.0 + len(mentioners))
            for src in mentioners:
                message_id = int(src.split(":", 1)[1])
                scores[message_id] = scores.get(message_id, 0.0) + weight
        for seed in seed_messages:
            node = message_key(seed)
            if node not in graph:
                continue
            for _, thread, rel in graph.out_edges(node, keys=True):
                if rel != "in_thread":
                    continue
                siblings = [src for src, _, r in graph.in_edges(thread, keys=True) if r == "in_thread"]
                for src in siblings[-50:]:
                    message_id = int(src.split(":", 1)[1])
                    if message_id != seed:
                        scores[message_id] = scores.get(message_id, 0.0) + 0.25
        ranked = sorted(scores.items(), key=lambda pair: (-pair[1], -pair[0]))
        return ranked[:limit]
