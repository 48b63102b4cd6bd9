"""Stored message embeddings: BLOB rows in SQLite, and an in-memory matrix for brute-force search.

Vectors are kept as float16 BLOBs (`memory_vectors`, one row per message and model), so a restart
reloads them instead of recomputing. In memory the index holds the float16 vectors, plus, for
embedders with Matryoshka-ordered dimensions, a float32 copy of the first `coarse_dim` dimensions:
a query scans the small coarse matrix, then rescores the best candidates with the full vectors.
At 100k messages that is a 19 MB scan instead of 100 MB.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from hololoom_core.store.db import Store


@dataclass(slots=True)
class VectorFilter:
    """Which messages a vector search may return."""

    room_id: str | None = None
    thread_id: str | None = None
    sender: str | None = None
    since: float | None = None
    until: float | None = None
    exclude_ids: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing is filtered."""
        return not (self.room_id or self.thread_id or self.sender or self.since is not None
                    or self.until is not None or self.exclude_ids)


class _Codes:
    """Small integer codes for repeated strings (rooms, senders, threads), so filters are array compares."""

    def __init__(self) -> None:
        self.codes: dict[str | None, int] = {None: 0}

    def code(self, value: str | None) -> int:
        found = self.codes.get(value)
        if found is None:
            found = len(self.codes)
            self.codes[value] = found
        return found

    def lookup(self, value: str) -> int:
        return self.codes.get(value, -1)


_BLAS_LIMITED = False


def single_threaded_blas() -> None:
    """Keep BLAS on one thread: a query is one small matrix-vector product, and OpenBLAS's threads,
    spinning against the engine's own work on a 2-core machine, made it 5-10x slower, not faster."""
    global _BLAS_LIMITED
    if _BLAS_LIMITED:
        return
    _BLAS_LIMITED = True
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a declared dependency
        return
    threadpool_limits(limits=1, user_api="blas")


class VectorIndex:
    """All stored vectors of one model, searchable by cosine similarity with filters."""

    def __init__(self, store: Store, model: str, dim: int, coarse_dim: int | None = None) -> None:
        self.store = store
        self.model = model
        self.dim = dim
        self.coarse_dim = coarse_dim if coarse_dim and coarse_dim < dim else None
        self.size = 0
        capacity = 1024
        self.ids = np.zeros(capacity, dtype=np.int64)
        self.full = np.zeros((capacity, dim), dtype=np.float16)
        self.coarse = np.zeros((capacity, self.coarse_dim or dim), dtype=np.float32)
        self.rooms = np.zeros(capacity, dtype=np.int32)
        self.senders = np.zeros(capacity, dtype=np.int32)
        self.threads = np.zeros(capacity, dtype=np.int32)
        self.times = np.zeros(capacity, dtype=np.float64)
        self.alive = np.zeros(capacity, dtype=bool)
        self.position: dict[int, int] = {}
        self.removed = 0
        self._rooms, self._senders, self._threads = _Codes(), _Codes(), _Codes()

    def __len__(self) -> int:
        return len(self.position)

    # -- loading and adding ------------------------------------------------------------------

    def load(self) -> int:
        """Read every stored vector of this model for messages that still exist; returns how many."""
        rows = self.store.query(
            "SELECT v.message_id, v.vector, m.room_id, m.sender, m.thread_id, m.ts FROM memory_vectors v "
            "JOIN messages m ON m.id = v.message_id WHERE v.model = ? AND m.redacted = 0 ORDER BY v.message_id",
            (self.model,),
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float16).reshape(len(rows), self.dim)
        metas = [(row[2], row[3], row[4], row[5]) for row in rows]
        self._append(ids, vectors, metas)
        return len(rows)

    def store_vectors(self, conn: sqlite3.Connection, ids: list[int], vectors: np.ndarray,
                      metas: list[tuple[str, str, str | None, float]]) -> None:
        """Write vectors as BLOBs (inside the caller's transaction) and add them to the in-memory index."""
        half = np.asarray(vectors, dtype=np.float16)
        conn.executemany(
            "INSERT OR REPLACE INTO memory_vectors(message_id, model, vector) VALUES (?, ?, ?)",
            [(message_id, self.model, half[i].tobytes()) for i, message_id in enumerate(ids)],
        )
        self._append(ids, half, metas)

    def _grow(self, needed: int) -> None:
        capacity = len(self.ids)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2

        def grown(array: np.ndarray) -> np.ndarray:
            bigger = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
            bigger[: self.size] = array[: self.size]
            return bigger

        self.ids, self.full, self.coarse = grown(self.ids), grown(self.full), grown(self.coarse)
        self.rooms, self.senders, self.threads = grown(self.rooms), grown(self.senders), grown(self.threads)
        self.times, self.alive = grown(self.times), grown(self.alive)

    def _append(self, ids: list[int], vectors: np.ndarray, metas: list[tuple[str, str, str | None, float]]) -> None:
        for message_id in ids:
            if message_id in self.position:
                self.alive[self.position[message_id]] = False
                self.removed += 1
        start = self.size
        end = start + len(ids)
        self._grow(end)
        half = np.asarray(vectors, dtype=np.float16)
        self.full[start:end] = half
        prefix = half[:, : self.coarse.shape[1]].astype(np.float32)
        if self.coarse_dim:
            norms = np.linalg.norm(prefix, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            prefix /= norms
        self.coarse[start:end] = prefix
        self.ids[start:end] = ids
        for offset, (room, sender, thread, ts) in enumerate(metas):
            row = start + offset
            self.rooms[row] = self._rooms.code(room)
            self.senders[row] = self._senders.code(sender)
            self.threads[row] = self._threads.code(thread)
            self.times[row] = ts
            self.position[ids[offset]] = row
        self.alive[start:end] = True
        self.size = end

    def remove(self, message_id: int) -> bool:
        """Drop a message's vector from memory (the row is deleted by the caller)."""
        row = self.position.pop(message_id, None)
        if row is None:
            return False
        self.alive[row] = False
        self.removed += 1
        return True

    # -- searching ---------------------------------------------------------------------------

    def _mask(self, filters: VectorFilter) -> np.ndarray:
        n = self.size
        mask = self.alive[:n].copy()
        if filters.room_id is not None:
            mask &= self.rooms[:n] == self._rooms.lookup(filters.room_id)
        if filters.sender is not None:
            mask &= self.senders[:n] == self._senders.lookup(filters.sender)
        if filters.thread_id is not None:
            mask &= self.threads[:n] == self._threads.lookup(filters.thread_id)
        if filters.since is not None:
            mask &= self.times[:n] >= filters.since
        if filters.until is not None:
            mask &= self.times[:n] <= filters.until
        for message_id in filters.exclude_ids:
            row = self.position.get(message_id)
            if row is not None:
                mask[row] = False
        return mask

    def search(self, query: np.ndarray, k: int, filters: VectorFilter | None = None) -> list[tuple[int, float]]:
        """The `k` most similar messages as (message id, cosine), best first."""
        n = self.size
        if n == 0 or k <= 0:
            return []
        single_threaded_blas()
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        dims = self.coarse.shape[1]
        probe = query[:dims]
        if self.coarse_dim:
            norm = float(np.linalg.norm(probe)) or 1.0
            probe = probe / norm
        scores = self.coarse[:n] @ probe
        filters = filters or VectorFilter()
        if not filters.empty or self.removed:
            scores[~self._mask(filters)] = -np.inf
        candidates = min(n, max(k * 6, 300) if self.coarse_dim else k)
        top = np.argpartition(-scores, candidates - 1)[:candidates] if candidates < n else np.arange(n)
        top = top[np.isfinite(scores[top])]
        if self.coarse_dim and len(top):
            exact = self.full[top].astype(np.float32) @ query
        else:
            exact = scores[top]
        order = np.argsort(-exact)[:k]
        return [(int(self.ids[top[i]]), float(exact[i])) for i in order]
