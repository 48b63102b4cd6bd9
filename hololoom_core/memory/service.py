"""The memory service: keeps the graph and vectors, tracks items, resolves the retrieval mode, answers recall.

One `MemoryService` per engine (`engine.capability(MemoryService)`). Its `analysis` (memory/analysis.py)
analyses stored messages in batches behind a durable watermark; embeddings are computed in batches in a worker thread
(`asyncio.to_thread`) and stored as BLOBs; a retrieval mode whose optional part is missing
degrades to the next one (fused → fast → bare) with one warning, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hololoom_core.events import MessageChanged
from hololoom_core.memory.analysis import MemoryAnalysis
from hololoom_core.memory.embeddings import Embedder, EmbedderUnavailable, load_embedder
from hololoom_core.memory.events import MemoryChanged
from hololoom_core.memory.graph import MemoryGraph
from hololoom_core.memory.items import Item, ItemTracker
from hololoom_core.memory.patterns import PatternBook
from hololoom_core.memory.search import MODES, MemorySearch, RecallFilters, RecallResult
from hololoom_core.memory.vectors import VectorIndex
from hololoom_core.models import StoredMessage

if TYPE_CHECKING:
    import numpy as np

    from hololoom_core.engine.pipeline import Engine

log = logging.getLogger(__name__)
FALLBACK = {"fused": "fast", "fast": "bare"}
ProgressCallback = Callable[[int, int], None]


@dataclass(slots=True)
class RoomDigest:
    """What the memory panel shows for a room: decisions, open action items, open questions."""

    room_id: str
    decisions: list[Item]
    actions: list[Item]
    questions: list[Item]


class MemoryService:
    """Knowledge graph, vectors, tracked items, patterns and hybrid recall for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.config = engine.config
        settings = engine.config.memory
        self.graph = MemoryGraph(self.store)
        self.items = ItemTracker(self.store, self.graph)
        self.patterns = PatternBook.for_config(
            engine.config,
            check_interval=settings.patterns_check_s,
            on_reload=lambda detail: self.engine.set_status("patterns", "ok", detail),
        )
        if self.patterns.last_error:  # reported once here; later problems through on_error
            self.engine.report_error("patterns", self.patterns.last_error + " (running without that file)")
        self.patterns.on_error = lambda error: self.engine.report_error("patterns", error)
        self.requested_mode = engine.config.hololoom.config_mode
        self.people: set[str] = set()
        self._seen_users: set[str] = set()
        self._people_frozen: frozenset[str] | None = None
        self._load_people()
        self._embedders: dict[str, Embedder] = {}
        self._unavailable: dict[str, str] = {}
        self._indexes: dict[str, VectorIndex] = {}
        self._pending: dict[str, list[int]] = {}
        self._worker: asyncio.Task[None] | None = None
        self._embed_lock: asyncio.Lock | None = None
        self._warned: set[str] = set()
        self._recent: OrderedDict[int, StoredMessage] = OrderedDict()
        self.closed = False
        self.search_engine = MemorySearch(self.store, self.graph, self._vector_access,
                                          command_prefix=engine.config.bot.command_prefix)
        self.embedded = 0
        self.analysis = MemoryAnalysis(self, engine)

    # -- retrieval modes ---------------------------------------------------------------------

    def resolve_mode(self, requested: str | None = None) -> str:
        """The mode that can run for a request: the requested one, or the next one down if a part is missing."""
        mode = requested or self.requested_mode
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode '{mode}' (use bare, fast or fused)")
        wanted = mode
        while mode != "bare" and self._embedder(mode) is None:
            mode = FALLBACK[mode]
        if mode != wanted:
            reasons = "; ".join(f"{m}: {self._unavailable[m]}" for m in MODES if m in self._unavailable)
            detail = f"{mode} (wanted {wanted}; {reasons})"
            self.engine.set_status("retrieval", "degraded", detail, mode=mode, requested=wanted)
            if wanted not in self._warned:
                self._warned.add(wanted)
                self.engine.report_error("retrieval", f"{wanted} mode unavailable, using {mode}: {reasons}")
        elif self.engine.status.get("retrieval", {}).get("mode") != mode:
            self.engine.set_status("retrieval", "ok", mode, mode=mode, requested=wanted)
        return mode

    def _embedder(self, mode: str) -> Embedder | None:
        if mode == "bare":
            return None
        if mode in self._embedders:
            return self._embedders[mode]
        if mode in self._unavailable:
            return None
        try:
            embedder = load_embedder(mode)
        except EmbedderUnavailable as exc:
            self._unavailable[mode] = str(exc)
            return None
        self._embedders[mode] = embedder
        return embedder

    def index(self, mode: str) -> VectorIndex | None:
        """The vector index of a mode's embedder (loaded from SQLite on first use), or None in bare mode."""
        embedder = self._embedder(mode)
        if embedder is None:
            return None
        index = self._indexes.get(embedder.name)
        if index is None:
            index = VectorIndex(self.store, embedder.name, embedder.dim, embedder.coarse_dim)
            index.load()
            self._indexes[embedder.name] = index
            self._pending[embedder.name] = self._backlog_ids(embedder.name)
        return index

    def _vector_access(self, mode: str) -> tuple[VectorIndex, Callable[[list[str]], np.ndarray]] | None:
        index = self.index(mode)
        embedder = self._embedders.get(mode)
        if index is None or embedder is None:
            return None
        return index, embedder.embed

    def _backlog_ids(self, model: str) -> list[int]:
        # Raw SQL on `messages` kept here on purpose: the query is inherently a join with memory's own
        # `memory_vectors` table (NOT EXISTS per message); splitting it would read every id into Python.
        rows = self.store.query(
            "SELECT m.id FROM messages m WHERE m.is_bot = 0 AND m.redacted = 0 AND m.body != '' AND NOT EXISTS "
            "(SELECT 1 FROM memory_vectors v WHERE v.message_id = m.id AND v.model = ?) ORDER BY m.id",
            (model,),
        )
        return [row[0] for row in rows]

    # -- keeping -----------------------------------------------------------------------------

    def _load_people(self) -> None:
        for row in self.store.query("SELECT user_id, display_name FROM users WHERE is_bot = 0"):
            self.note_person(row["user_id"], row["display_name"])

    def note_person(self, user_id: str, display_name: str | None) -> None:
        """Remember a person's names, so plain mentions of them ("alice will ...") are recognised."""
        if user_id in self._seen_users:
            return
        self._seen_users.add(user_id)
        local = user_id.lstrip("@").split(":", 1)[0].lower()
        if len(local) >= 3:
            self.people.add(local)
        if display_name:
            first = display_name.split()[0].lower() if display_name.split() else ""
            if len(first) >= 3 and first.isalpha():
                self.people.add(first)
        self._people_frozen = None

    def people_snapshot(self) -> frozenset[str]:
        """The known people's names (user-id local parts and first names), lower-case."""
        if self._people_frozen is None:
            self._people_frozen = frozenset(self.people)
        return self._people_frozen

    def queue_embeddings(self, messages: list[StoredMessage]) -> None:
        """After their analysis is committed: remember the messages and queue their embeddings."""
        recent = self._recent
        queued = False
        for message in messages:
            recent[message.id] = message
            if not message.is_bot and message.body.strip():
                queued = True  # the worker loads the model first if it has not yet (and reads the backlog)
                for name, pending in self._pending.items():
                    if name in self._indexes:
                        pending.append(message.id)
        while len(recent) > 256:
            recent.popitem(last=False)
        if queued:
            self._kick_worker()

    def message(self, message_id: int) -> StoredMessage | None:
        """A kept message (from the recent cache, else the store)."""
        return self._recent.get(message_id) or self.engine.messages.get(message_id)

    # -- embedding in batches, off the event loop --------------------------------------------

    def warm_up(self) -> None:
        """Start the embedding worker now: it loads the mode's model and embeds any backlog in the background."""
        self._kick_worker()

    def _kick_worker(self) -> None:
        if self.closed or (self._worker is not None and not self._worker.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (bulk ingest from sync code): `embed_backlog` catches up later
        self._worker = loop.create_task(self._embed_worker(), name="memory-embedder")

    async def _embed_worker(self) -> None:
        """Embed queued messages in batches until the queues are empty."""
        delay = self.config.memory.embed_delay_s
        try:
            if not self._indexes:
                mode = await asyncio.to_thread(self._prepare_mode_blocking, self.requested_mode)
                self.resolve_mode(mode)
                if mode != "bare":
                    self.index(mode)
            while not self.closed and any(self._pending.values()):
                await asyncio.sleep(delay)
                await self.embed_backlog()
        except asyncio.CancelledError:
            raise
        except sqlite3.ProgrammingError:
            return  # the store was closed under us: the backlog is picked up at the next start
        except Exception as exc:  # the embedder must never take the engine down
            log.exception("embedding worker failed")
            self.engine.report_error("embeddings", f"{type(exc).__name__}: {exc}")

    def _prepare_mode_blocking(self, mode: str) -> str:
        """Load the embedders a mode needs (in a worker thread: loading MiniLM takes seconds)."""
        while mode != "bare":
            if mode in self._embedders:
                return mode
            if mode not in self._unavailable:
                try:
                    self._embedders[mode] = load_embedder(mode)
                    return mode
                except EmbedderUnavailable as exc:
                    self._unavailable[mode] = str(exc)
            mode = FALLBACK[mode]
        return mode

    async def prepare(self, mode: str | None = None) -> str:
        """Load the requested mode's parts off the event loop; returns the mode that will run."""
        wanted = mode or self.requested_mode
        await asyncio.to_thread(self._prepare_mode_blocking, wanted)
        resolved = self.resolve_mode(wanted)
        if resolved != "bare":
            self.index(resolved)
        return resolved

    async def embed_backlog(self, mode: str | None = None, progress: ProgressCallback | None = None,
                            batch_size: int | None = None) -> int:
        """Embed every message still without a vector for the mode's model; returns how many were embedded."""
        if self._embed_lock is None:
            self._embed_lock = asyncio.Lock()
        async with self._embed_lock:
            return await self._embed_backlog(mode, progress, batch_size)

    async def _embed_backlog(self, mode: str | None, progress: ProgressCallback | None,
                             batch_size: int | None) -> int:
        resolved = self.resolve_mode(mode) if mode else None
        targets = [resolved] if resolved else [m for m in ("fused", "fast") if m in self._embedders]
        batch_size = batch_size or self.config.memory.embed_batch_size
        done = 0
        for target in targets:
            index = self.index(target) if target != "bare" else None
            embedder = self._embedders.get(target)
            if index is None or embedder is None:
                continue
            pending = self._pending.setdefault(embedder.name, [])
            total = len(pending)
            finished = 0
            while pending and not self.closed:
                batch = pending[:batch_size]
                rows = self.engine.messages.embeddable(batch)
                vectors = await asyncio.to_thread(embedder.embed, [row.body for row in rows])
                if self.closed:
                    return done
                with self.store.transaction() as conn:
                    index.store_vectors(conn, [row.id for row in rows], vectors,
                                        [(row.room_id, row.sender, row.thread_id, row.ts) for row in rows])
                if pending[: len(batch)] == batch:
                    del pending[: len(batch)]
                else:  # a redaction removed an id meanwhile
                    processed = set(batch)
                    pending[:] = [message_id for message_id in pending if message_id not in processed]
                done += len(rows)
                finished += len(batch)
                self.embedded += len(rows)
                if progress is not None:
                    progress(finished, total)
        return done

    async def idle(self) -> None:
        """Wait until the embedding worker has nothing left to do."""
        while self._worker is not None and not self._worker.done():
            await asyncio.wait({self._worker})

    async def close(self) -> None:
        """Stop the embedding worker (what is not embedded yet is picked up at the next start)."""
        self.closed = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass

    # -- recall ------------------------------------------------------------------------------

    def recall(self, query: str, *, k: int | None = None, mode: str | None = None,
               filters: RecallFilters | None = None) -> RecallResult:
        """Hybrid search in the requested mode (degrading if a part is missing)."""
        wanted = mode or self.requested_mode
        resolved = self.resolve_mode(wanted)
        result = self.search_engine.search(query, mode=resolved, k=k or self.config.memory.recall_k,
                                           filters=filters)
        if resolved != wanted:
            result.degraded_from = wanted
        return result

    # -- forgetting (redactions) and edits ---------------------------------------------------

    def forget_message(self, message_id: int, *, redact: bool = True) -> bool:
        """Remove a message's content from memory: graph nodes/edges, items, insights, vectors.

        With `redact` the stored message body is blanked too (if the caller has not done it).
        Returns False if there is no such message.
        """
        message = self.engine.messages.get(message_id)
        if message is None:
            return False
        if redact and not message.redacted:
            self.engine.messages.redact(message_id)
        with self.store.transaction() as conn:
            item_keys = self.items.forget_message(conn, message_id)
            self.graph.forget_message(conn, message_id, item_keys)
            conn.execute("DELETE FROM memory_vectors WHERE message_id = ?", (message_id,))
            conn.execute("DELETE FROM insights WHERE message_id = ?", (message_id,))
        for index in self._indexes.values():
            index.remove(message_id)
        for pending in self._pending.values():
            if message_id in pending:
                pending.remove(message_id)
        self._recent.pop(message_id, None)
        self.engine.bus.publish(MemoryChanged(message.room_id, ("forgotten",)))
        return True

    def reindex_message(self, message_id: int) -> None:
        """After an edit: forget what the old text said, then analyse the new text.

        A message the catch-up has not reached yet is left to it (it reads the edited text then).
        """
        message = self.engine.messages.get(message_id)
        if message is None or message.redacted:
            return
        self.forget_message(message_id, redact=False)
        if message_id <= self.analysis.watermark():
            self.analysis.reanalyse([message])

    def on_event(self, event: Any) -> None:
        """Bus subscriber: a redacted message is forgotten, an edited one re-indexed."""
        if isinstance(event, MessageChanged):
            if event.change == "redacted":
                self.forget_message(event.message.id, redact=False)
            elif event.change == "edited":
                self.reindex_message(event.message.id)

    # -- views -------------------------------------------------------------------------------

    def room_digest(self, room_id: str, limit: int = 8) -> RoomDigest:
        """The room's recent decisions (active and reversed), open action items and open questions."""
        return RoomDigest(
            room_id,
            self.items.list("decision", room_id=room_id, limit=limit),
            self.items.list("action_item", room_id=room_id, status="open", limit=limit),
            self.items.list("question", room_id=room_id, status="open", limit=limit),
        )

    def status_line(self) -> str:
        """Mode, vectors and graph size in one line (for `doctor` and the CLI)."""
        counts = self.graph.counts()
        vectors = ", ".join(f"{name}: {len(index)}" for name, index in self._indexes.items()) or "not loaded"
        return (f"retrieval {self.requested_mode}; graph {sum(v for k, v in counts.items() if k != 'edges')} nodes, "
                f"{counts.get('edges', 0)} edges; vectors {vectors}")
