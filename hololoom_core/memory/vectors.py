"""Stored message embeddings: BLOB rows in SQLite, an in-memory matrix, and an IVF index over it.

Vectors are kept as float16 BLOBs (`memory_vectors`, one row per message and model), so a restart
reloads them instead of recomputing. In memory the index holds the float16 vectors, plus, for
embedders with Matryoshka-ordered dimensions, a float32 copy of the first `coarse_dim` dimensions.

Below `ann_min` live vectors a query scans the small coarse matrix, then rescores the best
candidates with the full vectors. From `ann_min` on, an IVF index (`memory/ann.py`, faiss) is built
from these vectors in a background thread (queries scan until it is ready) and kept up to date as
vectors are added; a query asks it for candidates and rescores them with the full vectors, so the
similarities returned are always exact. A redacted or edited message's old row is marked dead and
never returned. numpy is imported on first use, not when this module is.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hololoom_core.store.db import Store

if TYPE_CHECKING:
    import numpy as np

    from hololoom_core.memory.ann import IvfIndex

# From this many live vectors on, queries use the IVF index (a coarse scan of 20k rows takes ~0.3 ms).
ANN_MIN = 20_000
# A filtered query whose filter leaves at most this many rows scans those rows instead of the IVF index.
SUBSET_SCAN_MAX = 20_000
# Rebuild the IVF index (new cells) when the vectors grew this many times over what it was trained for.
RETRAIN_GROWTH = 4.0
# How many candidates a query rescores with the full vectors, per result wanted and at least: from the coarse
# (Matryoshka prefix) scan, and from the IVF index, whose 8-bit codes already score within ~1% of the exact
# cosine (at 100k messages rescoring 100 instead of 300 IVF candidates left recall@8 and @50 unchanged).
RESCORE_FACTOR, RESCORE_MIN = 6, 300
ANN_RESCORE_FACTOR, ANN_RESCORE_MIN = 2, 100


@dataclass(slots=True)
class VectorFilter:
    """Which messages a vector search may return."""

    room_id: str | None = None
    thread_id: str | None = None
    sender: str | None = None
    since: float | None = None
    until: float | None = None
    exclude_ids: tuple[int, ...] = ()
    rooms: tuple[str, ...] | None = None  # the reader's room scope (None: every room)

    @property
    def empty(self) -> bool:
        """True when nothing is filtered."""
        return not (self.room_id or self.thread_id or self.sender or self.since is not None
                    or self.until is not None or self.exclude_ids or self.rooms is not None)


def _narrowing(filters: VectorFilter) -> bool:
    """True when a filter keeps only some rows (beyond dropping a few excluded messages)."""
    return bool(filters.room_id or filters.thread_id or filters.sender or filters.since is not None
                or filters.until is not None or filters.rooms is not None)


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

    def __init__(self, store: Store, model: str, dim: int, coarse_dim: int | None = None,
                 ann_min: int | None = None) -> None:
        import numpy as np

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
        self.ann_min = ANN_MIN if ann_min is None else ann_min
        self.ann: IvfIndex | None = None
        self._ann_lock = threading.RLock()
        self._builder: threading.Thread | None = None
        self.ann_error: str | None = None

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
        import numpy as np

        ids = [row[0] for row in rows]
        vectors = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float16).reshape(len(rows), self.dim)
        metas = [(row[2], row[3], row[4], row[5]) for row in rows]
        self._append(ids, vectors, metas)
        return len(rows)

    def store_vectors(self, conn: sqlite3.Connection, ids: list[int], vectors: np.ndarray,
                      metas: list[tuple[str, str, str | None, float]]) -> None:
        """Write vectors as BLOBs (inside the caller's transaction) and add them to the in-memory index."""
        import numpy as np

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

        import numpy as np

        def grown(array: np.ndarray) -> np.ndarray:
            bigger = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
            bigger[: self.size] = array[: self.size]
            return bigger

        self.ids, self.full, self.coarse = grown(self.ids), grown(self.full), grown(self.coarse)
        self.rooms, self.senders, self.threads = grown(self.rooms), grown(self.senders), grown(self.threads)
        self.times, self.alive = grown(self.times), grown(self.alive)

    def _append(self, ids: list[int], vectors: np.ndarray, metas: list[tuple[str, str, str | None, float]]) -> None:
        import numpy as np

        with self._ann_lock:
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
            if self.ann is not None:
                self.ann.add(np.arange(start, end), self.full[start:end].astype(np.float32))
        self._maybe_build_ann()

    # -- the IVF index -----------------------------------------------------------------------

    def _maybe_build_ann(self) -> None:
        """Start building the IVF index in the background when there are enough vectors (or many more than
        it was trained for, or many dead rows in it)."""
        live = len(self.position)
        if live < self.ann_min or self.ann_error is not None:
            return
        if self._builder is not None and self._builder.is_alive():
            return
        ann = self.ann
        if ann is not None and live <= ann.trained_for * RETRAIN_GROWTH and \
                self.removed - ann.dead_before <= ann.count // 4:
            return
        self._builder = threading.Thread(target=self._build_ann, name=f"memory-ivf-{self.model}", daemon=True)
        self._builder.start()

    def _build_ann(self) -> None:
        """Train and fill a new IVF index from the rows present now, catch up with rows added meanwhile, swap it in."""
        import numpy as np

        from hololoom_core.memory.ann import IvfIndex, cells_for

        try:
            with self._ann_lock:
                end = self.size
                full, alive = self.full, self.alive[:end].copy()
            rows = np.flatnonzero(alive)
            rng = np.random.default_rng(0)
            sample_rows = np.sort(rng.choice(rows, min(len(rows), 64 * cells_for(len(rows))), replace=False))
            ann = IvfIndex(self.dim, full[sample_rows].astype(np.float32), len(rows))
            for chunk in range(0, len(rows), 65_536):
                part = rows[chunk:chunk + 65_536]
                ann.add(part, full[part].astype(np.float32))
            with self._ann_lock:
                late = np.arange(end, self.size)
                if len(late):
                    ann.add(late, self.full[end:self.size].astype(np.float32))
                ann.dead_before = self.removed - int(np.count_nonzero(~self.alive[end:self.size]))
                self.ann = ann
        except Exception as exc:  # faiss missing or failing: queries keep scanning, and say why once
            self.ann_error = f"{type(exc).__name__}: {exc}"

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for a background IVF build to finish; True when queries use the IVF index."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
        return self.ann is not None

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
        if filters.rooms is not None:
            codes = [code for code in (self._rooms.lookup(room) for room in filters.rooms) if code >= 0]
            if len(codes) == 1:  # one room (the usual scope): a compare is several times faster than isin
                mask &= self.rooms[:n] == codes[0]
            else:
                import numpy as np

                mask &= np.isin(self.rooms[:n], codes)
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
        import numpy as np

        n = self.size
        if n == 0 or k <= 0:
            return []
        single_threaded_blas()
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        filters = filters or VectorFilter()
        candidates = max(k * RESCORE_FACTOR, RESCORE_MIN) if self.coarse_dim else k
        with self._ann_lock:
            ann = self.ann
            narrowing = _narrowing(filters)
            # The mask is computed once per query, and only when a filter narrows the rows (or rows died).
            mask = None if (filters.empty and not self.removed) or (ann is not None and not narrowing) else \
                self._mask(filters)
            if ann is not None:
                top = self._ann_candidates(ann, query, max(k * ANN_RESCORE_FACTOR, ANN_RESCORE_MIN), filters, mask)
                if top is not None:
                    return self._rescored(top, query, k)
            return self._scan(query, k, candidates, mask)

    def _ann_candidates(self, ann: IvfIndex, query: np.ndarray, candidates: int,
                        filters: VectorFilter, mask: np.ndarray | None) -> np.ndarray | None:
        """Candidate rows from the IVF index, or None when the filter leaves so few rows that scanning them is better."""
        import numpy as np

        if not _narrowing(filters):
            # Dead rows and excluded messages are dropped afterwards: ask for enough extra candidates.
            found = ann.search(query, candidates + len(filters.exclude_ids))
            found = found[self.alive[found]]
            if filters.exclude_ids:
                excluded = {self.position[i] for i in filters.exclude_ids if i in self.position}
                found = np.array([row for row in found if row not in excluded], dtype=np.int64)
            return found[:candidates]
        assert mask is not None  # a narrowing filter is never empty
        allowed = int(np.count_nonzero(mask))
        if allowed <= SUBSET_SCAN_MAX:
            return None
        return ann.search(query, candidates, mask, widen=min(8.0, self.size / allowed))

    def _rescored(self, rows: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Exact cosine of candidate rows with the full vectors; the best `k`."""
        import numpy as np

        if not len(rows):
            return []
        exact = self.full[rows].astype(np.float32) @ query
        order = np.argsort(-exact)[:k]
        return [(int(self.ids[rows[i]]), float(exact[i])) for i in order]

    def _scan(self, query: np.ndarray, k: int, candidates: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        """Scan the coarse matrix (of the rows `mask` allows, when they are few; all when it is None), rescore the
        best rows."""
        import numpy as np

        n = self.size
        dims = self.coarse.shape[1]
        probe = query[:dims]
        if self.coarse_dim:
            norm = float(np.linalg.norm(probe)) or 1.0
            probe = probe / norm
        if mask is None:
            rows = None
            scores = self.coarse[:n] @ probe
        else:
            allowed = int(np.count_nonzero(mask))
            if allowed <= SUBSET_SCAN_MAX:
                rows = np.flatnonzero(mask)
                scores = self.coarse[rows] @ probe
            else:
                rows = None
                scores = self.coarse[:n] @ probe
                scores[~mask] = -np.inf
        count = len(scores)
        if count == 0:
            return []
        wanted = min(count, candidates)
        top = np.argpartition(-scores, wanted - 1)[:wanted] if wanted < count else np.arange(count)
        top = top[np.isfinite(scores[top])]
        if rows is not None:
            top = rows[top]
        if self.coarse_dim:
            return self._rescored(top, query, k)
        exact = (scores[top] if rows is None else self.coarse[top] @ probe)
        order = np.argsort(-exact)[:k]
        return [(int(self.ids[top[i]]), float(exact[i])) for i in order]
