"""Workflow runs in SQLite: one row per run (program, program counter, variables, what it waits for)
and one row per step taken, so a run resumes exactly where it stopped after a restart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hololoom_core.ops.workflows.schema import Op
from hololoom_core.redact import redact_secrets
from hololoom_core.store import Store

WORKFLOWS_V1 = """
CREATE TABLE workflow_runs (
    id             INTEGER PRIMARY KEY,
    workflow       TEXT NOT NULL,
    source         TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    program        TEXT NOT NULL,
    status         TEXT NOT NULL,
    trigger        TEXT NOT NULL,
    started_by     TEXT NOT NULL,
    room_id        TEXT NOT NULL,
    thread_id      TEXT,
    parent_run_id  INTEGER REFERENCES workflow_runs(id) ON DELETE SET NULL,
    depth          INTEGER NOT NULL DEFAULT 0,
    pc             INTEGER NOT NULL DEFAULT 0,
    steps_done     INTEGER NOT NULL DEFAULT 0,
    variables      TEXT NOT NULL DEFAULT '{}',
    waiting        TEXT NOT NULL DEFAULT '{}',
    wake_ts        REAL,
    owner          TEXT,
    lease_ts       REAL,
    error          TEXT,
    created_ts     REAL NOT NULL,
    updated_ts     REAL NOT NULL,
    finished_ts    REAL
);
CREATE INDEX workflow_runs_status ON workflow_runs(status, wake_ts);
CREATE INDEX workflow_runs_parent ON workflow_runs(parent_run_id);
CREATE TABLE workflow_steps (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    pc           INTEGER NOT NULL,
    label        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    line         INTEGER,
    status       TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    actor        TEXT,
    started_ts   REAL NOT NULL,
    finished_ts  REAL
);
CREATE INDEX workflow_steps_run ON workflow_steps(run_id, id);
CREATE TABLE workflow_schedule (
    workflow       TEXT NOT NULL,
    trigger_index  INTEGER NOT NULL,
    last_fire_ts   REAL NOT NULL,
    PRIMARY KEY (workflow, trigger_index)
);
"""

ACTIVE_STATUSES = ("running", "waiting_approval", "waiting_timer", "waiting_child")
FINISHED_STATUSES = ("succeeded", "failed", "denied", "timed_out", "cancelled")


@dataclass(slots=True)
class RunRecord:
    """One workflow run as stored."""

    id: int
    workflow: str
    source: str
    fingerprint: str
    program: list[Op]
    status: str
    trigger: str
    started_by: str
    room_id: str
    thread_id: str | None
    parent_run_id: int | None
    depth: int
    pc: int
    steps_done: int
    variables: dict[str, Any]
    waiting: dict[str, Any]
    wake_ts: float | None
    owner: str | None
    lease_ts: float | None
    error: str | None
    created_ts: float
    updated_ts: float
    finished_ts: float | None
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How people refer to the run: `WF-12`."""
        return f"WF-{self.id}"

    @property
    def finished(self) -> bool:
        """True once the run reached a final status."""
        return self.status in FINISHED_STATUSES


class RunStore:
    """Reads and writes workflow runs and their step log."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        *,
        workflow: str,
        source: str,
        fingerprint: str,
        program: list[Op],
        trigger: str,
        started_by: str,
        room_id: str,
        thread_id: str | None,
        variables: dict[str, Any],
        parent_run_id: int | None,
        depth: int,
        owner: str,
        lease_ts: float,
        now: float,
    ) -> int:
        """Insert a new run, already claimed by `owner`, and return its id."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO workflow_runs(workflow, source, fingerprint, program, status, trigger, started_by, "
                "room_id, thread_id, parent_run_id, depth, variables, owner, lease_ts, created_ts, updated_ts) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (workflow, source, fingerprint, json.dumps([op.as_dict() for op in program]), trigger, started_by,
                 room_id, thread_id, parent_run_id, depth, json.dumps(variables, default=str), owner, lease_ts, now,
                 now),
            )
            return int(cursor.lastrowid or 0)

    def get(self, run_id: int, *, with_steps: bool = False) -> RunRecord | None:
        """The run with this id, optionally with its step log."""
        row = self.store.query_one("SELECT * FROM workflow_runs WHERE id = ?", (run_id,))
        if row is None:
            return None
        record = _record(row)
        if with_steps:
            record.steps = [
                dict(step) for step in self.store.query(
                    "SELECT pc, label, kind, line, status, detail, actor, started_ts, finished_ts "
                    "FROM workflow_steps WHERE run_id = ? ORDER BY id", (run_id,)
                )
            ]
        return record

    def recent(self, limit: int = 20, *, statuses: tuple[str, ...] | None = None) -> list[RunRecord]:
        """The newest runs first, optionally only in some statuses."""
        if statuses:
            marks = ",".join("?" * len(statuses))
            rows = self.store.query(
                f"SELECT * FROM workflow_runs WHERE status IN ({marks}) ORDER BY id DESC LIMIT ?", (*statuses, limit)
            )
        else:
            rows = self.store.query("SELECT * FROM workflow_runs ORDER BY id DESC LIMIT ?", (limit,))
        return [_record(row) for row in rows]

    def since(self, ts: float) -> list[RunRecord]:
        """Runs created since `ts`, oldest first."""
        return [_record(row) for row in self.store.query(
            "SELECT * FROM workflow_runs WHERE created_ts >= ? ORDER BY id", (ts,))]

    def claim(self, run_id: int, statuses: tuple[str, ...], owner: str, lease_ts: float, now: float) -> bool:
        """Atomically take a run that is in one of `statuses` (and not leased by a live owner) and mark it running."""
        marks = ",".join("?" * len(statuses))
        with self.store.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE workflow_runs SET status = 'running', owner = ?, lease_ts = ?, updated_ts = ? "
                f"WHERE id = ? AND status IN ({marks}) AND (owner IS NULL OR lease_ts < ?)",
                (owner, lease_ts, now, run_id, *statuses, now),
            )
            return cursor.rowcount == 1

    def due(self, now: float) -> list[tuple[int, str]]:
        """Runs whose timer or approval deadline has passed: (id, status)."""
        rows = self.store.query(
            "SELECT id, status FROM workflow_runs WHERE status IN ('waiting_timer', 'waiting_approval') "
            "AND wake_ts IS NOT NULL AND wake_ts <= ? ORDER BY wake_ts", (now,)
        )
        return [(row["id"], row["status"]) for row in rows]

    def resumable(self, now: float) -> list[int]:
        """Runs left `running` by a stopped engine: no owner (closed cleanly) or an expired lease (crashed)."""
        rows = self.store.query(
            "SELECT id FROM workflow_runs WHERE status = 'running' AND (owner IS NULL OR lease_ts < ?) ORDER BY id",
            (now,),
        )
        return [row["id"] for row in rows]

    def children(self, run_id: int) -> list[RunRecord]:
        """Runs started by a `call` step of this run."""
        return [_record(row) for row in self.store.query(
            "SELECT * FROM workflow_runs WHERE parent_run_id = ? ORDER BY id", (run_id,))]

    def save_progress(
        self,
        run: RunRecord,
        *,
        status: str,
        pc: int,
        variables: dict[str, Any],
        now: float,
        waiting: dict[str, Any] | None = None,
        wake_ts: float | None = None,
        error: str | None = None,
        release: bool = False,
        lease_ts: float | None = None,
    ) -> None:
        """Persist where the run is (one transaction); `release` drops the lease (paused or finished)."""
        finished = now if status in FINISHED_STATUSES else None
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE workflow_runs SET status = ?, pc = ?, variables = ?, waiting = ?, wake_ts = ?, error = ?, "
                "steps_done = ?, updated_ts = ?, finished_ts = COALESCE(?, finished_ts), "
                "owner = CASE WHEN ? THEN NULL ELSE owner END, lease_ts = COALESCE(?, lease_ts) WHERE id = ?",
                (status, pc, json.dumps(variables, default=str), json.dumps(waiting or {}, default=str), wake_ts,
                 error, run.steps_done, now, finished, 1 if release else 0, lease_ts, run.id),
            )
        run.status, run.pc, run.variables, run.waiting, run.wake_ts, run.error = (
            status, pc, variables, waiting or {}, wake_ts, error)

    def release_owned(self, owner: str) -> None:
        """Drop this engine's leases on close, so the next engine resumes its runs at once."""
        self.store.execute("UPDATE workflow_runs SET owner = NULL WHERE owner = ?", (owner,))

    def log_step(self, run_id: int, pc: int, op: Op, status: str, detail: str, now: float,
                    actor: str | None = None) -> int:
        """Add a step (at program counter `pc`) to the run's log and return its id."""
        cursor = self.store.execute(
            "INSERT INTO workflow_steps(run_id, pc, label, kind, line, status, detail, actor, started_ts, finished_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, pc, op.label, op.kind, op.line, status, redact_secrets(detail).text[:2000], actor, now,
             None if status == "started" else now),
        )
        return int(cursor.lastrowid or 0)

    def finish_step(self, step_id: int, status: str, detail: str, now: float) -> None:
        """Complete a step logged as `started`."""
        self.store.execute(
            "UPDATE workflow_steps SET status = ?, detail = ?, finished_ts = ? WHERE id = ?",
            (status, redact_secrets(detail).text[:2000], now, step_id),
        )

    def last_step(self, run_id: int) -> dict[str, Any] | None:
        """The most recent step log entry of a run."""
        row = self.store.query_one("SELECT * FROM workflow_steps WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,))
        return dict(row) if row is not None else None

    def last_fire(self, workflow: str, trigger_index: int) -> float | None:
        """When a scheduled trigger last fired."""
        return self.store.scalar(
            "SELECT last_fire_ts FROM workflow_schedule WHERE workflow = ? AND trigger_index = ?",
            (workflow, trigger_index),
        )

    def claim_fire(self, workflow: str, trigger_index: int, previous: float | None, ts: float) -> bool:
        """Record that a scheduled trigger fires now, unless another engine recorded a firing first."""
        with self.store.transaction() as conn:
            if previous is None:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO workflow_schedule(workflow, trigger_index, last_fire_ts) VALUES (?, ?, ?)",
                    (workflow, trigger_index, ts),
                )
            else:
                cursor = conn.execute(
                    "UPDATE workflow_schedule SET last_fire_ts = ? WHERE workflow = ? AND trigger_index = ? "
                    "AND last_fire_ts = ?", (ts, workflow, trigger_index, previous),
                )
            return cursor.rowcount == 1


def _record(row: Any) -> RunRecord:
    return RunRecord(
        id=row["id"],
        workflow=row["workflow"],
        source=row["source"],
        fingerprint=row["fingerprint"],
        program=[Op.from_dict(item) for item in json.loads(row["program"])],
        status=row["status"],
        trigger=row["trigger"],
        started_by=row["started_by"],
        room_id=row["room_id"],
        thread_id=row["thread_id"],
        parent_run_id=row["parent_run_id"],
        depth=row["depth"],
        pc=row["pc"],
        steps_done=row["steps_done"],
        variables=json.loads(row["variables"]),
        waiting=json.loads(row["waiting"]),
        wake_ts=row["wake_ts"],
        owner=row["owner"],
        lease_ts=row["lease_ts"],
        error=row["error"],
        created_ts=row["created_ts"],
        updated_ts=row["updated_ts"],
        finished_ts=row["finished_ts"],
    )
