"""The engine's analysis slot: what the notice step does with stored messages.

`Engine.analysis` is a `MessageAnalysis`. The memory capability fills it with its watermark analysis
(memory/analysis.py: entities, graph, detectors, insights and tracked items, in batches, exactly
once); without memory, `DetectorAnalysis` runs the registered detectors and stores their insights.
Either way there is one path: `Engine.notice` (one live message) and `Engine.notice_batch` (a kept
batch) call the slot, and nothing else analyses messages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from hololoom_core.events import InsightBatchDetected, InsightDetected
from hololoom_core.models import Insight, StoredMessage

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class Detector(Protocol):
    """Notices something in a stored message (decision, action item, question, incident signal)."""

    def detect(self, message: StoredMessage) -> list[Insight]:
        """Return the insights found in one message."""
        ...


class MessageAnalysis(Protocol):
    """Analyses stored messages after their keep has committed; `notice` is the one-message form."""

    def notice(self, stored: StoredMessage) -> list[Insight]:
        """Analyse one live message (after any backlog) exactly once; return its insights."""
        ...

    def analyse_batch(self, stored_messages: Sequence[StoredMessage]) -> list[Insight]:
        """Analyse a batch just stored (after any backlog) exactly once; return every insight found."""
        ...


def run_detectors(engine: Engine, detectors: Sequence[Detector], message: StoredMessage) -> list[Insight]:
    """Every detector's insights for one message; a failing detector is reported and skipped."""
    found: list[Insight] = []
    for detector in detectors:
        try:
            found.extend(detector.detect(message))
        except Exception as exc:
            engine.report_error("detector", f"{type(detector).__name__}: {exc}")
    return found


class DetectorAnalysis:
    """The analysis of an engine without memory: the registered detectors, their insights stored in one go."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def notice(self, stored: StoredMessage) -> list[Insight]:
        """Run the detectors on one live message; its insights are published one by one."""
        return self._analyse([stored], live=True)

    def analyse_batch(self, stored_messages: Sequence[StoredMessage]) -> list[Insight]:
        """Run the detectors over a batch; its insights are published as one `InsightBatchDetected`."""
        return self._analyse(stored_messages, live=False)

    def _analyse(self, messages: Sequence[StoredMessage], *, live: bool) -> list[Insight]:
        engine = self.engine
        if not engine.detectors:
            return []
        insights: list[Insight] = []
        for message in messages:
            if not message.is_bot and message.kind == "chat":
                insights.extend(run_detectors(engine, engine.detectors, message))
        if not insights:
            return []
        with engine.store.transaction() as conn:
            for insight in insights:
                cursor = conn.execute(
                    "INSERT INTO insights(kind, message_id, room_id, text, confidence, data, ts) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (insight.kind, insight.message_id, insight.room_id, insight.text, insight.confidence,
                     json.dumps(insight.data), insight.ts),
                )
                insight.id = cursor.lastrowid
            engine.stats.insights += len(insights)
            if live:
                for insight in insights:
                    engine.bus.publish(InsightDetected(insight))  # heard after the commit
            else:
                engine.bus.publish(InsightBatchDetected(tuple(insights), {m.id: m for m in messages}))
        return insights
