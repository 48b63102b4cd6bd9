"""The incident tables (owned by the `incidents` component) and the SQL that reads and writes them."""

from __future__ import annotations

import builtins
import json
import sqlite3
from typing import Any

from hololoom_core.ops.incidents.models import ActionItem, Incident, TimelineEntry
from hololoom_core.redact import redact, redact_data
from hololoom_core.rooms import RoomScope
from hololoom_core.store.db import Store

INCIDENTS_V1 = """
CREATE TABLE incidents (
    id                  INTEGER PRIMARY KEY,
    title               TEXT NOT NULL,
    severity            TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'open',
    room_id             TEXT NOT NULL,
    thread_id           TEXT,
    declared_by         TEXT NOT NULL,
    declared_ts         REAL NOT NULL,
    declared_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    acknowledged_ts     REAL,
    acknowledged_by     TEXT,
    resolved_ts         REAL,
    resolved_by         TEXT,
    resolution          TEXT,
    root_cause          TEXT,
    external_ids        TEXT NOT NULL DEFAULT '[]',
    postmortem          TEXT,
    postmortem_ts       REAL
);
CREATE INDEX incidents_status_room ON incidents(status, room_id);
CREATE TABLE incident_roles (
    incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    assigned_by  TEXT NOT NULL,
    ts           REAL NOT NULL,
    PRIMARY KEY (incident_id, role)
);
CREATE TABLE incident_threads (
    incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    thread_id    TEXT NOT NULL,
    room_id      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    ts           REAL NOT NULL,
    PRIMARY KEY (incident_id, thread_id)
);
CREATE INDEX incident_threads_thread ON incident_threads(thread_id);
CREATE TABLE incident_timeline (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    ts           REAL NOT NULL,
    kind         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    text         TEXT NOT NULL,
    message_id   INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    data         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_timeline_incident ON incident_timeline(incident_id, ts);
CREATE UNIQUE INDEX incident_timeline_message ON incident_timeline(incident_id, message_id, kind)
    WHERE message_id IS NOT NULL;
CREATE TABLE incident_action_items (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    owner        TEXT NOT NULL,
    text         TEXT NOT NULL,
    source       TEXT NOT NULL,
    message_id   INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    ts           REAL NOT NULL
);
CREATE INDEX incident_action_items_incident ON incident_action_items(incident_id);
"""


def _incident(row: sqlite3.Row, roles: dict[str, str]) -> Incident:
    return Incident(
        id=row["id"],
        title=row["title"],
        severity=row["severity"],
        status=row["status"],
        room_id=row["room_id"],
        thread_id=row["thread_id"],
        declared_by=row["declared_by"],
        declared_ts=row["declared_ts"],
        acknowledged_ts=row["acknowledged_ts"],
        acknowledged_by=row["acknowledged_by"],
        resolved_ts=row["resolved_ts"],
        resolved_by=row["resolved_by"],
        resolution=row["resolution"],
        root_cause=row["root_cause"],
        external_ids=json.loads(row["external_ids"] or "[]"),
        roles=roles,
        postmortem_ts=row["postmortem_ts"],
    )


class IncidentStore:
    """Reads and writes the incident tables; every write is one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- incidents ---------------------------------------------------------------------------

    def create(self, *, title: str, severity: str, room_id: str, thread_id: str | None, declared_by: str,
               declared_ts: float, message_id: int | None) -> int:
        """Insert an incident and return its number."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO incidents(title, severity, room_id, thread_id, declared_by, declared_ts, "
                "declared_message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (redact(title), severity, room_id, thread_id, declared_by, declared_ts, message_id),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def update(self, number: int, **columns: Any) -> None:
        """Set columns of one incident (external_ids is a list, stored as JSON)."""
        columns = {name: redact(value) if isinstance(value, str) else value for name, value in columns.items()}
        if "external_ids" in columns:
            columns["external_ids"] = json.dumps(redact_data(columns["external_ids"]))
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self.store.transaction() as conn:
            conn.execute(f"UPDATE incidents SET {assignments} WHERE id = ?", (*columns.values(), number))

    def get(self, number: int) -> Incident | None:
        """One incident with its roles."""
        row = self.store.query_one("SELECT * FROM incidents WHERE id = ?", (number,))
        return _incident(row, self.roles(number)) if row else None

    def by_external_id(self, reference: str) -> Incident | None:
        """The incident that adopted an external id such as INC-4821 (newest first)."""
        needle = f'%"{reference.upper()}"%'
        row = self.store.query_one(
            "SELECT * FROM incidents WHERE upper(external_ids) LIKE ? ORDER BY id DESC LIMIT 1", (needle,)
        )
        return _incident(row, self.roles(row["id"])) if row else None

    def list(self, *, status: str | None = None, room_id: str | None = None, limit: int = 100,
             scope: RoomScope | None = None) -> list[Incident]:
        """Incidents, newest first, optionally only open/resolved ones, one room's or those in `scope`'s rooms."""
        clauses, params = [], []
        if scope is not None and not scope.unrestricted:
            clause, scope_params = scope.sql("room_id")
            clauses.append(clause)
            params.extend(scope_params)
        if status == "open":
            clauses.append("status != 'resolved'")
        elif status:
            clauses.append("status = ?")
            params.append(status)
        if room_id:
            clauses.append("room_id = ?")
            params.append(room_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.store.query(f"SELECT * FROM incidents {where} ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_incident(row, self.roles(row["id"])) for row in rows]

    def postmortem(self, number: int) -> str | None:
        """The stored postmortem Markdown, if one was generated."""
        return self.store.scalar("SELECT postmortem FROM incidents WHERE id = ?", (number,))

    # -- roles and threads -------------------------------------------------------------------

    def roles(self, number: int) -> dict[str, str]:
        """Role → user of one incident."""
        rows = self.store.query("SELECT role, user_id FROM incident_roles WHERE incident_id = ? ORDER BY ts",
                                (number,))
        return {row["role"]: row["user_id"] for row in rows}

    def set_role(self, number: int, role: str, user_id: str, assigned_by: str, ts: float) -> str | None:
        """Assign a role; returns who held it before (None when nobody did)."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT user_id FROM incident_roles WHERE incident_id = ? AND role = ?",
                               (number, role)).fetchone()
            conn.execute(
                "INSERT INTO incident_roles(incident_id, role, user_id, assigned_by, ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(incident_id, role) DO UPDATE SET user_id = excluded.user_id, "
                "assigned_by = excluded.assigned_by, ts = excluded.ts",
                (number, role, user_id, assigned_by, ts),
            )
        return row["user_id"] if row else None

    def link_thread(self, number: int, thread_id: str, room_id: str, reason: str, ts: float) -> bool:
        """Link a thread to an incident; False when it was linked already."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO incident_threads(incident_id, thread_id, room_id, reason, ts) "
                "VALUES (?, ?, ?, ?, ?)",
                (number, thread_id, room_id, reason, ts),
            )
            return cursor.rowcount > 0

    def threads(self, number: int) -> builtins.list[str]:
        """The thread ids linked to an incident."""
        rows = self.store.query("SELECT thread_id FROM incident_threads WHERE incident_id = ? ORDER BY ts", (number,))
        return [row["thread_id"] for row in rows]

    def incident_for_thread(self, thread_id: str) -> int | None:
        """The newest incident (open or resolved) a thread is linked to."""
        return self.store.scalar(
            "SELECT incident_id FROM incident_threads WHERE thread_id = ? ORDER BY incident_id DESC LIMIT 1",
            (thread_id,),
        )

    def open_threads(self) -> dict[str, int]:
        """Thread id → incident number, for every open incident."""
        rows = self.store.query(
            "SELECT t.thread_id, t.incident_id FROM incident_threads t JOIN incidents i ON i.id = t.incident_id "
            "WHERE i.status != 'resolved'"
        )
        return {row["thread_id"]: row["incident_id"] for row in rows}

    # -- timeline and action items -----------------------------------------------------------

    def add_entry(self, number: int, ts: float, kind: str, actor: str, text: str,
                  message_id: int | None = None, data: dict[str, Any] | None = None) -> bool:
        """Add a timeline entry; a message already on the timeline with this kind is not added twice."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO incident_timeline(incident_id, ts, kind, actor, text, message_id, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (number, ts, kind, actor, redact(text), message_id, json.dumps(redact_data(data or {}))),
            )
            return cursor.rowcount > 0

    def mark_message_entry(self, number: int, message_id: int, kind: str, data: dict[str, Any]) -> bool:
        """Turn the plain `message` entry of a message into `kind` (an insight about it); False if there is none."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT id, data FROM incident_timeline WHERE incident_id = ? AND message_id = ? AND kind = 'message'",
                (number, message_id),
            ).fetchone()
            if row is None:
                return False
            merged = {**json.loads(row["data"] or "{}"), **data}
            conn.execute(
                "UPDATE OR IGNORE incident_timeline SET kind = ?, data = ? WHERE id = ?",
                (kind, json.dumps(merged), row["id"]),
            )
            return True

    def timeline(self, number: int) -> builtins.list[TimelineEntry]:
        """The timeline of one incident, oldest first."""
        rows = self.store.query(
            "SELECT * FROM incident_timeline WHERE incident_id = ? ORDER BY ts, id", (number,)
        )
        return [
            TimelineEntry(row["id"], row["incident_id"], row["ts"], row["kind"], row["actor"], row["text"],
                          row["message_id"], json.loads(row["data"] or "{}"))
            for row in rows
        ]

    def last_entry_ts(self, number: int, kind: str) -> float | None:
        """When the newest entry of a kind was added."""
        return self.store.scalar(
            "SELECT max(ts) FROM incident_timeline WHERE incident_id = ? AND kind = ?", (number, kind)
        )

    def add_action_item(self, number: int, owner: str, text: str, source: str, ts: float,
                        message_id: int | None = None) -> bool:
        """Add an action item unless the same owner already has one from the same message (or same text)."""
        with self.store.transaction() as conn:
            if message_id is not None:
                duplicate = conn.execute(
                    "SELECT 1 FROM incident_action_items WHERE incident_id = ? AND message_id = ? AND owner = ?",
                    (number, message_id, owner),
                ).fetchone()
            else:
                duplicate = conn.execute(
                    "SELECT 1 FROM incident_action_items WHERE incident_id = ? AND lower(text) = lower(?)",
                    (number, text),
                ).fetchone()
            if duplicate:
                return False
            conn.execute(
                "INSERT INTO incident_action_items(incident_id, owner, text, source, message_id, ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (number, owner, redact(text), source, message_id, ts),
            )
            return True

    def action_items(self, number: int) -> builtins.list[ActionItem]:
        """The action items of one incident, oldest first."""
        rows = self.store.query(
            "SELECT * FROM incident_action_items WHERE incident_id = ? ORDER BY ts, id", (number,)
        )
        return [ActionItem(row["id"], row["incident_id"], row["owner"], row["text"], row["source"], row["ts"],
                           row["message_id"]) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many incidents are open and resolved."""
        rows = self.store.query(
            "SELECT status = 'resolved' AS done, count(*) AS n FROM incidents GROUP BY status = 'resolved'"
        )
        result = {"open": 0, "resolved": 0}
        for row in rows:
            result["resolved" if row["done"] else "open"] = int(row["n"])
        return result

    def mean_times(self) -> dict[str, float | None]:
        """Mean time to acknowledge and to resolve (seconds) over every incident that has them."""
        row = self.store.query_one(
            "SELECT avg(acknowledged_ts - declared_ts) AS tta, avg(resolved_ts - declared_ts) AS ttr FROM incidents"
        )
        return {"mtta_s": row["tta"] if row else None, "mttr_s": row["ttr"] if row else None}
