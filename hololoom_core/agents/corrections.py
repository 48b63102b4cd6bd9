"""Operators' routing labels: `!route AGENT` corrects (or confirms) the agent an answer was routed to.

Each label is stored once per interaction and operator (a later `!route` by the same operator replaces
it). The labels feed the router's refit and measure it: router accuracy over the labelled decisions,
overall and per true agent, each with its number of outcomes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from hololoom_core.store.db import Store

CORRECTIONS_V1 = """
CREATE TABLE agent_corrections (
    id              INTEGER PRIMARY KEY,
    interaction_id  INTEGER REFERENCES interactions(id) ON DELETE SET NULL,
    question        TEXT NOT NULL,
    routed          TEXT NOT NULL,
    correct         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    source          TEXT NOT NULL,
    ts              REAL NOT NULL,
    UNIQUE(interaction_id, user_id)
);
CREATE INDEX agent_corrections_ts ON agent_corrections(ts);
"""


@dataclass(frozen=True, slots=True)
class Correction:
    """One stored label: the question, the agent it was routed to, the agent it should have gone to."""

    id: int
    interaction_id: int | None
    question: str
    routed: str
    correct: str
    user_id: str
    source: str
    ts: float

    @property
    def confirms(self) -> bool:
        """True when the operator agreed with the router."""
        return self.routed == self.correct


class CorrectionStore:
    """Reads and writes `agent_corrections`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, *, interaction_id: int | None, question: str, routed: str, correct: str, user_id: str,
            source: str, ts: float | None = None) -> Correction:
        """Store a label (replacing this operator's earlier label of the same interaction) and return it."""
        now = time.time() if ts is None else ts
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO agent_corrections(interaction_id, question, routed, correct, user_id, source, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(interaction_id, user_id) DO UPDATE SET "
                "correct = excluded.correct, source = excluded.source, ts = excluded.ts",
                (interaction_id, question, routed, correct, user_id, source, now),
            )
        row = self.store.query_one(
            "SELECT * FROM agent_corrections WHERE interaction_id IS ? AND user_id = ? ORDER BY id DESC LIMIT 1",
            (interaction_id, user_id),
        )
        assert row is not None
        return _correction(row)

    def all(self) -> list[Correction]:
        """Every label, oldest first."""
        return [_correction(row) for row in self.store.query("SELECT * FROM agent_corrections ORDER BY id")]

    def recent(self, limit: int = 20) -> list[Correction]:
        """The newest labels, newest first."""
        rows = self.store.query("SELECT * FROM agent_corrections ORDER BY id DESC LIMIT ?", (limit,))
        return [_correction(row) for row in rows]

    def training_pairs(self) -> list[tuple[str, str]]:
        """(question, correct agent) for the refit: the newest label per interaction (or per question)."""
        latest: dict[Any, tuple[str, str]] = {}
        for correction in self.all():
            key = correction.interaction_id if correction.interaction_id is not None else correction.question
            latest[key] = (correction.question, correction.correct)
        return list(latest.values())

    def counts_by_agent(self) -> dict[str, int]:
        """How many labels moved a decision away from each agent (corrections, not confirmations)."""
        rows = self.store.query("SELECT routed, count(*) AS n FROM agent_corrections WHERE routed != correct "
                                "GROUP BY routed")
        return {row["routed"]: int(row["n"]) for row in rows}

    def accuracy(self) -> dict[str, Any]:
        """Router accuracy over the labelled decisions (newest label per interaction), overall and per true agent."""
        latest: dict[Any, Correction] = {}
        for correction in self.all():
            key = correction.interaction_id if correction.interaction_id is not None else correction.id
            latest[key] = correction
        labels = list(latest.values())
        per_agent: dict[str, dict[str, Any]] = {}
        for label in labels:
            entry = per_agent.setdefault(label.correct, {"n": 0, "correct": 0})
            entry["n"] += 1
            entry["correct"] += int(label.confirms)
        for entry in per_agent.values():
            entry["accuracy"] = entry["correct"] / entry["n"]
        right = sum(int(label.confirms) for label in labels)
        return {"n": len(labels), "correct": right, "accuracy": (right / len(labels)) if labels else None,
                "per_agent": per_agent}


def _correction(row: Any) -> Correction:
    return Correction(row["id"], row["interaction_id"], row["question"], row["routed"], row["correct"],
                      row["user_id"], row["source"], row["ts"])
