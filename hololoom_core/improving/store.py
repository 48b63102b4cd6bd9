"""The loop's tables: its timeline, the experiments it launched, learned patterns, last tune and simulation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hololoom_core.store import Store

IMPROVING_V1 = """
CREATE TABLE improvement_events (
    id       INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL,
    summary  TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT '{}',
    ts       REAL NOT NULL
);
CREATE TABLE improvement_answers (
    interaction_id  INTEGER PRIMARY KEY,
    question_type   TEXT NOT NULL,
    configuration   TEXT NOT NULL,
    quality         REAL NOT NULL,
    criteria        TEXT NOT NULL DEFAULT '{}',
    negative        INTEGER NOT NULL DEFAULT 0,
    ts              REAL NOT NULL
);
CREATE INDEX improvement_answers_type ON improvement_answers(question_type, interaction_id);
CREATE TABLE improvement_experiments (
    experiment_id   INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    question_type   TEXT NOT NULL,
    weakness        TEXT NOT NULL,
    baseline        TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL,
    ts              REAL NOT NULL
);
CREATE TABLE learned_patterns (
    id             INTEGER PRIMARY KEY,
    question_type  TEXT NOT NULL,
    winner         TEXT NOT NULL,
    loser          TEXT NOT NULL,
    difference     REAL NOT NULL,
    answers        INTEGER NOT NULL,
    params         TEXT NOT NULL DEFAULT '{}',
    active         INTEGER NOT NULL DEFAULT 1,
    ts             REAL NOT NULL
);
CREATE TABLE improvement_results (
    kind  TEXT PRIMARY KEY,
    data  TEXT NOT NULL,
    ts    REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class LearnedPattern:
    """For questions of one type, a variant beat another by `difference` in mean reward over `answers`."""

    question_type: str
    winner: str
    loser: str
    difference: float
    answers: int
    params: dict[str, Any]
    active: bool
    ts: float

    def sentence(self) -> str:
        """The pattern as people read it."""
        state = "" if self.active else " (rolled back)"
        return (f"for {self.question_type} questions, {self.winner} beats {self.loser} by {self.difference:+.3f} "
                f"reward over {self.answers} answers{state}")


class ImprovementStore:
    """Reads and writes the loop's tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_event(self, kind: str, summary: str, detail: dict[str, Any], ts: float) -> None:
        """Append one step to the timeline."""
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO improvement_events(kind, summary, detail, ts) VALUES (?, ?, ?, ?)",
                         (kind, summary, json.dumps(detail, default=str), ts))

    def events(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest steps, oldest first."""
        rows = self.store.query("SELECT kind, summary, detail, ts FROM improvement_events ORDER BY id DESC LIMIT ?",
                                (limit,))
        return [{"kind": r["kind"], "summary": r["summary"], "detail": json.loads(r["detail"]), "ts": r["ts"]}
                for r in reversed(rows)]

    def patterns(self, active_only: bool = False) -> list[LearnedPattern]:
        """Learned patterns, newest first."""
        sql = "SELECT * FROM learned_patterns" + (" WHERE active = 1" if active_only else "") + " ORDER BY id DESC"
        return [LearnedPattern(r["question_type"], r["winner"], r["loser"], r["difference"], r["answers"],
                               json.loads(r["params"]), bool(r["active"]), r["ts"]) for r in self.store.query(sql)]

    def add_pattern(self, pattern: LearnedPattern) -> None:
        """Record a pattern; it replaces the active one for the same question type."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE learned_patterns SET active = 0 WHERE question_type = ?", (pattern.question_type,))
            conn.execute("INSERT INTO learned_patterns(question_type, winner, loser, difference, answers, params, "
                         "active, ts) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                         (pattern.question_type, pattern.winner, pattern.loser, pattern.difference, pattern.answers,
                          json.dumps(pattern.params), pattern.ts))

    def deactivate_patterns(self, question_type: str) -> None:
        """Roll back the active pattern of a question type."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE learned_patterns SET active = 0 WHERE question_type = ?", (question_type,))

    def save_result(self, kind: str, data: dict[str, Any], ts: float) -> None:
        """Keep the last result of a kind ('simulation', 'tune') for the app."""
        with self.store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO improvement_results(kind, data, ts) VALUES (?, ?, ?)",
                         (kind, json.dumps(data, default=str), ts))

    def result(self, kind: str) -> dict[str, Any] | None:
        """The last saved result of a kind, or None."""
        row = self.store.query_one("SELECT data FROM improvement_results WHERE kind = ?", (kind,))
        return json.loads(row["data"]) if row else None
