"""The analysis of stored messages, in batches and exactly once: entities, graph, detectors, insights, items.

Messages are analysed in id order. `memory_analysis.last_message_id` (the watermark) says how far;
it is moved in the same transaction that writes a batch's results (graph rows, insights, tracked
items), so after a crash (kill -9) either a batch's results and its watermark are stored or
neither is, and the next catch-up resumes after the last committed batch: nothing is analysed
twice and nothing is skipped. A live message is the one-message form of the same code
(`notice`): it catches up to itself, so it is analysed once too, after any backlog.

Only `kind = 'chat'` rows are analysed: the messages `Engine.keep` stores. The bot's replies and
operator notes are not (they never were). Redacted messages are skipped.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hololoom_core.engine.analysis import run_detectors
from hololoom_core.events import InsightBatchDetected, InsightDetected
from hololoom_core.memory.detectors import ProactiveDetector
from hololoom_core.memory.events import MemoryChanged
from hololoom_core.memory.items import TRACKED_KINDS
from hololoom_core.models import Insight, StoredMessage
from hololoom_core.text.entities import extract_entities

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine
    from hololoom_core.memory.service import MemoryService

WATERMARK = "memory"
ANALYSED_KIND = "chat"
ProgressCallback = Callable[[int, int], None]


@dataclass(slots=True)
class AnalysisResult:
    """What one catch-up analysed: the messages (id order) and the insights found in them."""

    messages: list[StoredMessage] = field(default_factory=list)
    insights: list[Insight] = field(default_factory=list)

    @property
    def analysed(self) -> int:
        """How many messages were analysed."""
        return len(self.messages)


class MemoryAnalysis:
    """Runs the analysis of stored messages behind a durable watermark (`memory_analysis`)."""

    def __init__(self, memory: MemoryService, engine: Engine) -> None:
        self.memory = memory
        self.engine = engine
        self.store = engine.store
        self.messages = engine.messages
        self.detector = ProactiveDetector(memory, engine.names_bot, engine.config.bot.command_prefix)
        self.analysed = 0

    # -- the watermark -----------------------------------------------------------------------

    def watermark(self) -> int:
        """The id of the last message analysed (every `chat` message up to it is analysed)."""
        return int(self.store.scalar("SELECT last_message_id FROM memory_analysis WHERE name = ?", (WATERMARK,))
                   or 0)

    def backlog(self) -> int:
        """How many stored messages wait for analysis."""
        return self.messages.count_unredacted_after(self.watermark(), kind=ANALYSED_KIND)

    @staticmethod
    def _read_mark(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT last_message_id FROM memory_analysis WHERE name = ?", (WATERMARK,)).fetchone()
        if row is None:
            conn.execute("INSERT INTO memory_analysis(name, last_message_id) VALUES (?, 0)", (WATERMARK,))
            return 0
        return int(row[0])

    # -- catching up -------------------------------------------------------------------------

    def catch_up(
        self,
        *,
        until: int | None = None,
        in_hand: Sequence[StoredMessage] = (),
        batch_size: int = 2000,
        progress: ProgressCallback | None = None,
        live: int | None = None,
    ) -> AnalysisResult:
        """Analyse every stored message above the watermark (up to id `until`), one transaction per batch.

        `in_hand` are stored messages the caller already has (a batch it just kept): they are used
        as they are instead of being read again. `live` is the id of a live message whose insights
        are published one by one (`InsightDetected`); the others go out once per batch
        (`InsightBatchDetected`). `progress(done, total)` is called after each committed batch.
        """
        held = {message.id: message for message in in_hand}
        result = AnalysisResult()
        total = None
        while True:
            with self.store.transaction() as conn:
                mark = self._read_mark(conn)
                if until is not None and mark >= until:
                    break
                if progress is not None and total is None:
                    total = self.messages.count_unredacted_after(mark, kind=ANALYSED_KIND, until=until)
                messages, new_mark = self._next_batch(mark, until, batch_size, held)
                if new_mark <= mark:
                    break
                insights, changed_rooms = self._analyse(conn, messages) if messages else ([], set())
                conn.execute("UPDATE memory_analysis SET last_message_id = ? WHERE name = ? AND last_message_id = ?",
                             (new_mark, WATERMARK, mark))
            self._after_commit(messages, insights, changed_rooms, live)
            result.messages.extend(messages)
            result.insights.extend(insights)
            if progress is not None:
                progress(len(result.messages), max(total or 0, len(result.messages)))
        return result

    async def catch_up_async(self, *, batch_size: int = 2000, progress: ProgressCallback | None = None) -> int:
        """The catch-up for a running engine: one batch at a time, letting the event loop run in between."""
        done = 0
        while not self.memory.closed:
            before = self.watermark()
            result = self.catch_up(until=self._batch_end(batch_size), batch_size=batch_size)
            if self.watermark() == before:
                break
            done += result.analysed
            if progress is not None:
                progress(done, done + self.backlog())
            await asyncio.sleep(0)
        return done

    def _batch_end(self, batch_size: int) -> int | None:
        return self.messages.nth_id_after(self.watermark(), kind=ANALYSED_KIND, offset=batch_size - 1)

    def notice(self, stored: StoredMessage) -> list[Insight]:
        """A live message: catch up to it (normally it is the only message waiting) and return its insights."""
        if stored.kind != ANALYSED_KIND:
            return []
        result = self.catch_up(until=stored.id, in_hand=[stored], live=stored.id)
        return [insight for insight in result.insights if insight.message_id == stored.id]

    def _next_batch(self, mark: int, until: int | None, batch_size: int,
                    held: dict[int, StoredMessage]) -> tuple[list[StoredMessage], int]:
        """The next messages to analyse (held ones as they are, the rest read once) and the watermark after them.

        Called inside `catch_up`'s transaction: the message store reads through the same connection.
        """
        limit = until if until is not None else 1 << 62
        window = self.messages.id_window(mark, limit, kind=ANALYSED_KIND, limit=batch_size)
        if len(window) == batch_size:
            new_mark = window[-1][0]
        else:  # the end of what there is: move past non-chat rows (bot replies) too
            new_mark = min(self.messages.max_id(), limit)
        wanted = [message_id for message_id, redacted in window if not redacted]
        missing = [message_id for message_id in wanted if message_id not in held]
        read = {message.id: message for message in self.messages.many(missing)}
        messages = [held.get(message_id) or read[message_id] for message_id in wanted if
                    message_id in held or message_id in read]
        return messages, new_mark

    # -- one batch ---------------------------------------------------------------------------

    def analyse_batch(self, stored_messages: Sequence[StoredMessage]) -> list[Insight]:
        """Analyse messages the caller has just stored (and any backlog before them), exactly once.

        The batch form of `notice`: the given messages are used as they are, not read again.
        """
        if not stored_messages:
            return []
        until = max(message.id for message in stored_messages)
        return self.catch_up(until=until, in_hand=stored_messages).insights

    def reanalyse(self, messages: Sequence[StoredMessage]) -> list[Insight]:
        """Analyse these messages now, without the watermark (an edited message is analysed again).

        Writes graph rows, insights and tracked items in one transaction and publishes what changed.
        """
        with self.store.transaction() as conn:
            insights, changed_rooms = self._analyse(conn, list(messages))
        self._after_commit(list(messages), insights, changed_rooms, None)
        return insights

    def _analyse(self, conn: sqlite3.Connection, messages: list[StoredMessage]) -> tuple[list[Insight], set[str]]:
        """Entities, graph, detectors, insights and items of a batch, written inside `conn`'s transaction."""
        memory = self.memory
        graph = memory.graph
        tracker = memory.items
        detectors = [self.detector, *self.engine.detectors]  # memory's own, then every registered one
        conn.execute("PRAGMA defer_foreign_keys = ON")  # items may point at items and insights of this batch
        next_insight = int(conn.execute("SELECT coalesce(max(id), 0) FROM insights").fetchone()[0]) + 1
        insights: list[Insight] = []
        changed_rooms: set[str] = set()
        graph.begin_batch()
        tracker.begin_batch(conn)
        try:
            for message in messages:
                if message.is_bot:
                    graph.add_message(conn, message, [])
                    continue
                memory.note_person(message.sender, message.sender_name)
                graph.add_message(conn, message, extract_entities(message.body, memory.people_snapshot()))
                found = run_detectors(self.engine, detectors, message)
                for insight in found:
                    insight.id = next_insight
                    next_insight += 1
                    if insight.kind in TRACKED_KINDS or insight.kind in ("answer", "action_done"):
                        item = tracker.record(conn, insight, message)
                        if item is not None:
                            changed_rooms.add(item.room_id)
                insights.extend(found)
            if insights:
                status = tracker.insight_status
                conn.executemany(
                    "INSERT INTO insights(id, kind, message_id, room_id, text, confidence, data, status, ts) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(i.id, i.kind, i.message_id, i.room_id, i.text, i.confidence, json.dumps(i.data),
                      status.get(i.id or 0, "open"), i.ts) for i in insights],
                )
            tracker.flush_batch(conn)
        except BaseException:
            tracker.discard_batch()
            graph.discard_pending()
            graph.end_batch(conn)
            raise
        graph.end_batch(conn)
        return insights, changed_rooms

    def _after_commit(self, messages: list[StoredMessage], insights: list[Insight], changed_rooms: set[str],
                      live: int | None) -> None:
        """Once the batch is durable: counters, the embedding queue, and one bus event per batch."""
        if not messages:
            return
        self.analysed += len(messages)
        self.engine.stats.insights += len(insights)
        self.memory.queue_embeddings(messages)
        bus = self.engine.bus
        if live is not None:
            for insight in insights:
                if insight.message_id == live:
                    bus.publish(InsightDetected(insight))
            batch = tuple(insight for insight in insights if insight.message_id != live)
        else:
            batch = tuple(insights)
        if batch:
            bus.publish(InsightBatchDetected(batch, {message.id: message for message in messages}))
        kinds = tuple(sorted({insight.kind for insight in insights}))
        for room in sorted(changed_rooms):
            bus.publish(MemoryChanged(room, kinds))
