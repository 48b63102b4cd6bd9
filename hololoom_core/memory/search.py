"""Hybrid search over kept messages: BM25 (SQLite FTS5), embeddings, graph neighbourhood, fused by RRF.

`bare` ranks by BM25 alone; `fast` fuses BM25 with wordllama similarity; `fused` adds
all-MiniLM-L6-v2 similarity instead of wordllama, plus the messages around the query's entities in
the knowledge graph. Lists are merged by reciprocal rank fusion (each list contributes
1 / (60 + rank)), which needs no score calibration between BM25 and cosine.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hololoom_core.memory.graph import MemoryGraph
from hololoom_core.memory.vectors import VectorFilter, VectorIndex
from hololoom_core.models import StoredMessage
from hololoom_core.rooms import RoomScope
from hololoom_core.store.db import Store
from hololoom_core.store.messages import row_to_message
from hololoom_core.text.entities import extract_entities
from hololoom_core.text.terms import STOP_WORDS, words

if TYPE_CHECKING:
    import numpy as np

RRF_K = 60
# Query planning for FTS5 BM25 (see MemorySearch.bm25): at most this many messages scored per query,
# terms in more than this share of messages dropped when others exist, at most this many OR-ed terms.
SCORE_BUDGET = 600
VERY_COMMON_SHARE = 0.1
MAX_OR_TERMS = 4
# In `fast` mode (BM25 fused with vectors) the newest-matches fallback ranks at most this many of the newest
# messages holding every common term: BM25 can only order them by length there, the vectors bring the meaning.
FAST_MATCH_WINDOW = 200
_FTS_TOKEN = re.compile(r"[A-Za-z0-9_]+")
# Cosine below which a vector hit is noise rather than meaning (both embedders put unrelated chat near 0
# and paraphrases above ~0.3); such hits do not enter the fusion.
VECTOR_FLOOR = 0.2
MODES = ("bare", "fast", "fused")


@dataclass(slots=True)
class RecallFilters:
    """Restrict a search to a room, a thread, an author and/or a time range (epoch seconds).

    `scope` is the reader's `RoomScope` (rooms are walls): every list (BM25, vectors, graph) is
    filtered by it in SQL or in the vector mask, never after the ranking.
    """

    room_id: str | None = None
    thread_id: str | None = None
    sender: str | None = None
    since: float | None = None
    until: float | None = None
    exclude_ids: tuple[int, ...] = ()
    include_bot: bool = False
    scope: RoomScope | None = None

    def sql(self, prefix: str = "") -> tuple[list[str], list[Any]]:
        """WHERE clauses and parameters for these filters on `messages` (columns prefixed, e.g. `m.`).

        `exclude_ids` is left to the caller: some queries exclude in SQL, others after fetching.
        """
        clauses: list[str] = []
        params: list[Any] = []
        if not self.include_bot:
            clauses.append(f"{prefix}is_bot = 0")
        for column, value in (("room_id", self.room_id), ("thread_id", self.thread_id), ("sender", self.sender)):
            if value is not None:
                clauses.append(f"{prefix}{column} = ?")
                params.append(value)
        if self.scope is not None and not self.scope.unrestricted:
            clause, scope_params = self.scope.sql(f"{prefix}room_id")
            clauses.append(clause)
            params.extend(scope_params)
        if self.since is not None:
            clauses.append(f"{prefix}ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append(f"{prefix}ts <= ?")
            params.append(self.until)
        return clauses, params

    def vector_filter(self) -> VectorFilter:
        """The same restriction for the vector index."""
        rooms = self.scope.room_ids if self.scope is not None else None
        return VectorFilter(self.room_id, self.thread_id, self.sender, self.since, self.until, self.exclude_ids,
                            rooms)


@dataclass(slots=True)
class RecallHit:
    """A message found by recall, with its fused score and its rank in each list that found it."""

    message: StoredMessage
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    bm25: float | None = None
    similarity: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        message = self.message
        return {
            "message_id": message.id, "event_id": message.event_id, "room": message.room_id,
            "thread": message.thread_id, "author": message.author, "sender": message.sender, "ts": message.ts,
            "body": message.body, "score": round(self.score, 6), "ranks": self.ranks,
            "bm25": None if self.bm25 is None else round(self.bm25, 4),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
        }


@dataclass(slots=True)
class RecallResult:
    """What a search found, which mode actually ran, and how long it took."""

    query: str
    mode: str
    hits: list[RecallHit]
    elapsed_ms: float
    degraded_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"query": self.query, "mode": self.mode, "degraded_from": self.degraded_from,
                "elapsed_ms": round(self.elapsed_ms, 3), "hits": [hit.as_dict() for hit in self.hits]}


def reciprocal_rank_fusion(lists: dict[str, list[int]], k: int = RRF_K) -> list[tuple[int, float, dict[str, int]]]:
    """Merge ranked id lists: score = sum of 1 / (k + rank) over the lists an id appears in; best first."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, ids in lists.items():
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(item, {})[name] = rank
    ordered = sorted(scores.items(), key=lambda pair: (-pair[1], -pair[0]))
    return [(item, score, ranks[item]) for item, score in ordered]


class MemorySearch:
    """Runs one query in a retrieval mode, with filters, over the store, the vectors and the graph."""

    def __init__(
        self,
        store: Store,
        graph: MemoryGraph,
        vectors: Callable[[str], tuple[VectorIndex, Callable[[list[str]], np.ndarray]] | None],
        candidates: int = 50,
        command_prefix: str = "!",
    ) -> None:
        self.store = store
        self.graph = graph
        self.vectors = vectors
        self.candidates = candidates
        self.command_prefix = command_prefix
        self._df: dict[str, tuple[int, int]] = {}
        self._count = 0
        self._count_checked = -1e9
        self._average: tuple[float, int] | None = None

    def query_terms(self, text: str) -> list[str]:
        """The query's searchable words: lower-case, no stop words, no FTS syntax, at most 12."""
        seen: list[str] = []
        for token in _FTS_TOKEN.findall(text.lower()):
            if (len(token) < 2 and not token.isdigit()) or token in STOP_WORDS or token in seen:
                continue
            seen.append(token)
            if len(seen) >= 12:
                break
        return seen

    def document_frequency(self, term: str, cap: int) -> int:
        """How many messages contain `term` (counted up to `cap`; a non-zero count is cached while the corpus size is similar)."""
        generation = self._message_count() // 5000
        cached = self._df.get(term)
        if cached is not None and cached[1] == generation:
            return cached[0]
        row = self.store.query_one(
            "SELECT count(*) FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? LIMIT ?)",
            (f'"{term}"', cap + 1),
        )
        count = int(row[0]) if row else 0
        if count == 0:
            return 0  # never cache an absence: the next message may contain the term (and recounting is cheap)
        if len(self._df) > 50_000:
            self._df.clear()
        self._df[term] = (count, generation)
        return count

    def _message_count(self) -> int:
        now = time.monotonic()
        if now - self._count_checked > 2.0:
            self._count = int(self.store.scalar("SELECT coalesce(max(id), 0) FROM messages") or 0)
            self._count_checked = now
        return self._count

    def bm25(self, text: str, filters: RecallFilters, limit: int, window: int | None = None) -> list[tuple[int, float]]:
        """Message ids by BM25 (best first, FTS5's sign: lower is better) with filters; bot messages and
        redactions excluded.

        FTS5 scores every message that contains any OR-ed term, and its `bm25()` reads each term's whole
        posting list to count documents, so a query is planned to touch at most `SCORE_BUDGET` messages:
        terms in more than `VERY_COMMON_SHARE` of all messages are dropped when the query has others
        (their IDF is near zero); the rarest terms are OR-ed and ranked by FTS5 while their document
        counts fit the budget. When even the rarest term is too common, the rarest terms must all match
        (AND, dropping the most common one while too few messages match) and only the newest
        `SCORE_BUDGET` matches (or `window`, when given) are ranked, by BM25 computed here from the cached
        document counts (every match holds every AND-ed term, so what orders them is their length).
        """
        terms = self.query_terms(text)
        if not terms:
            return []
        total = self._message_count()
        cap = max(SCORE_BUDGET, int(total * VERY_COMMON_SHARE))
        frequencies = {term: self.document_frequency(term, cap) for term in terms}
        present = sorted((t for t in terms if frequencies[t] > 0), key=lambda t: frequencies[t])
        if not present:
            return []
        usable = [t for t in present if frequencies[t] <= cap] or present[:1]
        chosen: list[str] = []
        budget = 0
        for term in usable[:MAX_OR_TERMS]:
            if budget + frequencies[term] > SCORE_BUDGET and chosen:
                break
            chosen.append(term)
            budget += frequencies[term]
        if budget <= SCORE_BUDGET:
            return self._bm25_query(" OR ".join(f'"{t}"' for t in chosen), None, filters, limit)
        found: list[tuple[int, float]] = []
        scoped = filters.scope is not None and not filters.scope.unrestricted
        for size in range(min(len(usable), MAX_OR_TERMS), 0, -1)[:4]:
            if scoped and found and size == 1:
                # A room scope holds a share of the matches: what several terms found in it beats padding the
                # list with the newest messages holding one common term (a long doclist scan).
                break
            # All of the rarest terms must match; drop the most common one while too few messages do.
            matched = self._newest_matches(usable[:size], frequencies, total, filters, limit,
                                           SCORE_BUDGET if window is None else window)
            seen = {message_id for message_id, _ in found}
            found += [hit for hit in matched if hit[0] not in seen][: max(0, limit - len(found))]
            if len(found) >= min(limit, 8):
                break
        return found

    def _newest_matches(self, terms: list[str], frequencies: dict[str, int], total: int, filters: RecallFilters,
                        limit: int, window: int) -> list[tuple[int, float]]:
        """The newest `window` messages holding all `terms` (and passing the filters), ranked by BM25."""
        outer, outer_params = filters.sql("m.")
        if filters.exclude_ids:
            outer.append(f"m.id NOT IN ({','.join('?' * len(filters.exclude_ids))})")
            outer_params.extend(filters.exclude_ids)
        where = " AND ".join(["messages_fts MATCH ?", *outer])
        match = " AND ".join(f'"{t}"' for t in terms)
        rows: list[Any] = []
        scope = filters.scope
        if scope is not None and not scope.unrestricted:
            # A room scope keeps a share of the matches: first rank the in-scope ones among the newest `window`
            # matches (the same work as an unscoped query); only when they are too few, scan further back.
            inner, inner_params = replace(filters, scope=None).sql("m.")
            if filters.exclude_ids:
                inner.append(f"m.id NOT IN ({','.join('?' * len(filters.exclude_ids))})")
                inner_params.extend(filters.exclude_ids)
            room_clause, room_params = scope.sql("room")
            rows = self.store.query(
                "SELECT id, size FROM (SELECT m.id AS id, m.room_id AS room, length(m.body) AS size FROM "
                "messages_fts JOIN messages m ON m.id = messages_fts.rowid WHERE "
                f"{' AND '.join(['messages_fts MATCH ?', *inner])} ORDER BY messages_fts.rowid DESC LIMIT ?) "
                f"WHERE {room_clause} ORDER BY size, id DESC LIMIT ?",
                (match, *inner_params, window, *room_params, limit),
            )
        if len(rows) < min(limit, 8):
            rows = self.store.query(
                "SELECT id, size FROM (SELECT m.id AS id, length(m.body) AS size FROM messages_fts "
                f"JOIN messages m ON m.id = messages_fts.rowid WHERE {where} ORDER BY messages_fts.rowid DESC "
                "LIMIT ?) ORDER BY size, id DESC LIMIT ?",
                (match, *outer_params, window, limit),
            )
        # FTS5's BM25 (k1 1.2, b 0.75) with term frequency 1, lengths in characters against the recent average:
        # the shortest match scores best.
        idf = sum(max(1e-6, math.log((total - frequencies[t] + 0.5) / (frequencies[t] + 0.5))) for t in terms)
        average = self._average_length()
        return [(int(row[0]), -idf * 2.2 / (1.0 + 1.2 * (0.25 + 0.75 * row[1] / average))) for row in rows]

    def _average_length(self) -> float:
        """Average body length (characters) of the newest 2,000 messages, recomputed every 5,000 messages."""
        generation = self._message_count() // 5000
        if self._average is None or self._average[1] != generation:
            value = self.store.scalar(
                "SELECT avg(length(body)) FROM (SELECT body FROM messages ORDER BY id DESC LIMIT 2000)")
            self._average = (float(value or 1.0) or 1.0, generation)
        return self._average[0]

    def _bm25_query(self, query: str, min_rowid: int | None, filters: RecallFilters,
                    limit: int) -> list[tuple[int, float]]:
        clauses = ["messages_fts MATCH ?"]
        params: list[Any] = [query]
        if min_rowid:
            clauses.append("messages_fts.rowid > ?")
            params.append(min_rowid)
        outer, outer_params = filters.sql("m.")
        narrowing = len(outer) > (0 if filters.include_bot else 1)  # more than the bot-message filter
        if filters.exclude_ids:
            outer.append(f"m.id NOT IN ({','.join('?' * len(filters.exclude_ids))})")
            outer_params.extend(filters.exclude_ids)
        if narrowing:
            # Filters can reject many matches: filter inside the ranked query.
            sql = ("SELECT messages_fts.rowid AS id, bm25(messages_fts) AS score FROM messages_fts "
                   "JOIN messages m ON m.id = messages_fts.rowid "
                   f"WHERE {' AND '.join(clauses + outer)} ORDER BY score LIMIT ?")
            rows = self.store.query(sql, (*params, *outer_params, limit))
        else:
            # Only bot messages to drop: rank in FTS alone, then join the (over-fetched) top rows.
            inner = (f"SELECT rowid AS id, bm25(messages_fts) AS score FROM messages_fts "
                     f"WHERE {' AND '.join(clauses)} ORDER BY score LIMIT ?")
            where = f"WHERE {' AND '.join(outer)} " if outer else ""
            sql = f"SELECT f.id, f.score FROM ({inner}) f JOIN messages m ON m.id = f.id {where}ORDER BY f.score LIMIT ?"
            rows = self.store.query(sql, (*params, limit * 2 + len(filters.exclude_ids), *outer_params, limit))
        return [(int(row[0]), float(row[1])) for row in rows]

    def graph_list(self, text: str, filters: RecallFilters, seeds: list[int], limit: int) -> list[int]:
        """Message ids near the query's entities (and the seeds' threads) in the knowledge graph."""
        entity_keys = [entity.key for entity in extract_entities(text)]
        tokens = [word for word in words(text) if len(word) >= 3]
        keys = self.graph.query_entities(entity_keys, tokens)
        ranked = self.graph.neighbourhood(keys, limit=limit * 4, seed_messages=seeds[:3])
        if not ranked:
            return []
        ids = [message_id for message_id, _ in ranked]
        allowed = set(self._filter_ids(ids, filters))
        return [message_id for message_id in ids if message_id in allowed][:limit]

    def _filter_ids(self, ids: list[int], filters: RecallFilters) -> list[int]:
        filter_clauses, filter_params = filters.sql()
        clauses = [f"id IN ({','.join('?' * len(ids))})", "redacted = 0", *filter_clauses]
        params: list[Any] = [*ids, *filter_params]
        exclude = set(filters.exclude_ids)
        rows = self.store.query(f"SELECT id FROM messages WHERE {' AND '.join(clauses)}", tuple(params))
        return [row[0] for row in rows if row[0] not in exclude]

    def fetch(self, ids: list[int]) -> dict[int, StoredMessage]:
        """Stored messages by id."""
        return {message_id: row_to_message(row) for message_id, row in self._rows(ids).items()}

    def _rows(self, ids: list[int]) -> dict[int, sqlite3.Row]:
        """Stored message rows (with the sender's display name) by id, not yet made into messages."""
        if not ids:
            return {}
        rows = self.store.query(
            "SELECT m.*, u.display_name AS display_name FROM messages m LEFT JOIN users u ON u.user_id = m.sender "
            f"WHERE m.id IN ({','.join('?' * len(ids))})",
            tuple(ids),
        )
        return {row["id"]: row for row in rows}

    def search(self, text: str, *, mode: str, k: int = 8, filters: RecallFilters | None = None) -> RecallResult:
        """Search in one mode (which must be available: the caller resolves degradation)."""
        started = time.perf_counter()
        filters = filters or RecallFilters()
        depth = max(self.candidates, k * 3)
        bm25 = self.bm25(text, filters, depth, FAST_MATCH_WINDOW if mode == "fast" else None)
        lists: dict[str, list[int]] = {"bm25": [message_id for message_id, _ in bm25]}
        bm25_scores = dict(bm25)
        similarities: dict[int, float] = {}
        vectors = self.vectors(mode) if mode in ("fast", "fused") else None
        if vectors is not None:
            # On this thread: the query's embedding and the IVF search take well under a millisecond, less
            # than handing them to a worker thread cost on a busy 2-core machine.
            index, embed = vectors
            found = [(message_id, similarity) for message_id, similarity in
                     index.search(embed([text])[0], depth, filters.vector_filter()) if similarity >= VECTOR_FLOOR]
            lists["vector"] = [message_id for message_id, _ in found]
            similarities = dict(found)
        if mode == "fused":
            seeds = list(dict.fromkeys(lists["bm25"][:2] + lists.get("vector", [])[:2]))
            lists["graph"] = self.graph_list(text, filters, seeds, depth)
        if mode == "bare":
            fused = [(message_id, -score, {"bm25": rank}) for rank, (message_id, score) in enumerate(bm25, start=1)]
        else:
            fused = reciprocal_rank_fusion(lists)
        top = fused[: k * 2]
        rows = self._rows([message_id for message_id, _, _ in top])
        hits: list[RecallHit] = []
        for message_id, score, ranks in top:
            # Checked on the raw row: only the hits kept are made into messages (meta JSON parsed).
            row = rows.get(message_id)
            if row is None or row["redacted"] or (row["is_bot"] and not filters.include_bot):
                continue
            if filters.scope is not None and not filters.scope.allows(row["room_id"]):
                continue
            if row["body"].lstrip().startswith(self.command_prefix):
                continue  # a command (`!recall ...`) is not memory
            hits.append(RecallHit(row_to_message(row), score, ranks, bm25_scores.get(message_id),
                                  similarities.get(message_id)))
            if len(hits) >= k:
                break
        return RecallResult(text, mode, hits, (time.perf_counter() - started) * 1000.0)
