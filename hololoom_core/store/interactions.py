"""Interactions (one per answer: query, answer, agent, configuration, scores, latency) and their feedback."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hololoom_core.models import Answer
from hololoom_core.redact import redact, redact_data
from hololoom_core.store.db import Store


@dataclass(slots=True)
class InteractionRow:
    """A recorded interaction as read back from the store."""

    id: int
    message_id: int | None
    reply_message_id: int | None
    room_id: str | None
    asker: str | None
    query: str
    answer: str
    sections: dict[str, str]
    agent: str
    provider: str
    configuration: str
    quality: float
    scores: dict[str, Any]
    loop_steps: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    grounded: bool
    latency_ms: float
    feedback: int
    feedback_count: int
    created_ts: float
    details: dict[str, Any]


def _row(row: Any) -> InteractionRow:
    return InteractionRow(
        id=row["id"],
        message_id=row["message_id"],
        reply_message_id=row["reply_message_id"],
        room_id=row["room_id"],
        asker=row["asker"],
        query=row["query"],
        answer=row["answer"],
        sections=json.loads(row["sections"]),
        agent=row["agent"],
        provider=row["provider"],
        configuration=row["configuration"],
        quality=row["quality"],
        scores=json.loads(row["scores"]),
        loop_steps=json.loads(row["loop_steps"]),
        sources=json.loads(row["sources"]),
        grounded=bool(row["grounded"]),
        latency_ms=row["latency_ms"],
        feedback=row["feedback"],
        feedback_count=row["feedback_count"],
        created_ts=row["created_ts"],
        details=json.loads(row["details"]),
    )


class InteractionStore:
    """Reads and writes the `interactions` and `feedback` tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self,
        answer: Answer,
        *,
        query: str,
        message_id: int | None,
        room_id: str | None,
        asker: str | None,
        ts: float | None = None,
    ) -> int:
        """Store one answered question and return the interaction id.

        The question and every text of the answer are redacted on the way in (the question arrives
        redacted from the pipeline; this also covers answers that quote a source or a model's output).
        """
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO interactions(message_id, room_id, asker, query, answer, sections, agent, provider, "
                "configuration, quality, scores, loop_steps, sources, grounded, latency_ms, created_ts, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    room_id,
                    asker,
                    redact(query),
                    redact(answer.markdown),
                    json.dumps(redact_data(answer.sections)),
                    answer.agent,
                    answer.provider,
                    answer.configuration,
                    answer.quality,
                    json.dumps(answer.verdict.as_dict()),
                    json.dumps(redact_data(answer.loop_steps)),
                    json.dumps(redact_data([s.as_dict() for s in answer.sources])),
                    int(answer.grounded),
                    answer.latency_ms,
                    ts if ts is not None else time.time(),
                    json.dumps(redact_data(answer.details)),
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def set_reply_message(self, interaction_id: int, reply_message_id: int) -> None:
        """Link the interaction to the stored bot message that carried the answer."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE interactions SET reply_message_id = ? WHERE id = ?", (reply_message_id, interaction_id)
            )

    def get(self, interaction_id: int) -> InteractionRow | None:
        """One interaction by id."""
        row = self.store.query_one("SELECT * FROM interactions WHERE id = ?", (interaction_id,))
        return _row(row) if row else None

    def by_reply_event(self, event_id: str) -> InteractionRow | None:
        """The interaction whose answer was sent as the message with this event id."""
        row = self.store.query_one(
            "SELECT i.* FROM interactions i JOIN messages m ON m.id = i.reply_message_id WHERE m.event_id = ?",
            (event_id,),
        )
        return _row(row) if row else None

    def recent(self, limit: int = 50) -> list[InteractionRow]:
        """The newest interactions, newest first."""
        return [_row(r) for r in self.store.query("SELECT * FROM interactions ORDER BY id DESC LIMIT ?", (limit,))]

    def add_feedback(
        self, interaction_id: int, user_id: str, value: int, source: str, ref: str | None = None
    ) -> bool:
        """Record a rating (+1 / -1) once per user, source and reference; False if it was already recorded."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO feedback(interaction_id, user_id, value, source, ref, ts) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (interaction_id, user_id, value, source, ref or "", time.time()),
            )
            if cursor.rowcount == 0:
                return False
            conn.execute(
                "UPDATE interactions SET feedback = feedback + ?, feedback_count = feedback_count + 1 WHERE id = ?",
                (value, interaction_id),
            )
        return True

    def remove_feedback(self, interaction_id: int, user_id: str, source: str, ref: str) -> bool:
        """Withdraw a rating (a removed reaction); False if there was none."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT id, value FROM feedback WHERE interaction_id = ? AND user_id = ? AND source = ? AND ref = ?",
                (interaction_id, user_id, source, ref),
            ).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM feedback WHERE id = ?", (row["id"],))
            conn.execute(
                "UPDATE interactions SET feedback = feedback - ?, feedback_count = feedback_count - 1 WHERE id = ?",
                (row["value"], interaction_id),
            )
        return True

    def totals(self) -> dict[str, Any]:
        """Answer count and mean quality over everything stored."""
        row = self.store.query_one("SELECT count(*) AS n, avg(quality) AS q FROM interactions")
        return {"answers": int(row["n"]) if row else 0, "mean_quality": row["q"] if row else None}

    def recent_latencies(self, limit: int = 1000) -> list[float]:
        """Latencies (ms) of the newest answers, oldest first."""
        rows = self.store.query("SELECT latency_ms FROM interactions ORDER BY id DESC LIMIT ?", (limit,))
        return [float(r[0]) for r in reversed(rows)]

    def per_agent(self) -> list[dict[str, Any]]:
        """Answers, mean quality and mean latency per agent."""
        rows = self.store.query(
            "SELECT agent, count(*) AS answers, avg(quality) AS mean_quality, avg(latency_ms) AS mean_latency_ms, "
            "sum(feedback) AS feedback FROM interactions GROUP BY agent ORDER BY answers DESC"
        )
        return [dict(r) for r in rows]

    def criteria_means(self, limit: int = 500) -> dict[str, float]:
        """Mean score of each judge criterion over the newest answers."""
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for row in self.store.query("SELECT scores FROM interactions ORDER BY id DESC LIMIT ?", (limit,)):
            for name, item in json.loads(row[0]).get("criteria", {}).items():
                sums[name] = sums.get(name, 0.0) + float(item["score"])
                counts[name] = counts.get(name, 0) + 1
        return {name: sums[name] / counts[name] for name in sums}
