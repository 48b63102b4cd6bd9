"""Consent: which rooms may be learned from (config) and who opted out (`!learning optout`, stored)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hololoom_core.config.learning import LearningConfig
from hololoom_core.store.db import Store

LEARNING_V1 = """
CREATE TABLE learning_optouts (
    user_id  TEXT PRIMARY KEY,
    room_id  TEXT,
    ts       REAL NOT NULL
);
CREATE TABLE learning_exports (
    id       INTEGER PRIMARY KEY,
    ts       REAL NOT NULL,
    kind     TEXT NOT NULL,
    path     TEXT NOT NULL,
    summary  TEXT NOT NULL
);
CREATE TABLE learning_topics (
    slug          TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    page          TEXT NOT NULL,
    data          TEXT NOT NULL DEFAULT '{}',
    generated_ts  REAL NOT NULL
);
CREATE TABLE runbook_candidates (
    id           TEXT PRIMARY KEY,
    topic        TEXT NOT NULL,
    title        TEXT NOT NULL,
    yaml         TEXT NOT NULL,
    path         TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'review',
    created_by   TEXT NOT NULL,
    created_ts   REAL NOT NULL
);
"""

# Transports whose rooms are this installation's own (the simulated room, the CLI); every other
# transport (matrix, imported history) carries other people's rooms and needs an explicit opt-in.
LOCAL_TRANSPORTS = frozenset({"local", "cli", ""})


@dataclass(frozen=True, slots=True)
class RoomConsent:
    """Whether a room may be learned from, and which setting said so."""

    allowed: bool
    basis: str


def room_consent(config: LearningConfig, room_id: str | None, transport: str | None) -> RoomConsent:
    """The consent of one room: a per-room setting wins, else the default of its kind of transport."""
    if room_id is not None and room_id in config.rooms:
        return RoomConsent(config.rooms[room_id], f"learning.rooms[{room_id}]")
    if (transport or "") in LOCAL_TRANSPORTS:
        return RoomConsent(config.local_rooms, "learning.local_rooms")
    return RoomConsent(config.matrix_rooms, "learning.matrix_rooms")


class OptOuts:
    """The people who asked not to be learned from (`learning_optouts`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def opt_out(self, user_id: str, room_id: str | None = None, ts: float | None = None) -> bool:
        """Record the opt-out; False when the user had already opted out."""
        with self.store.transaction() as conn:
            cursor = conn.execute("INSERT INTO learning_optouts(user_id, room_id, ts) VALUES (?, ?, ?) "
                                  "ON CONFLICT(user_id) DO NOTHING", (user_id, room_id, ts or time.time()))
            return cursor.rowcount > 0

    def opt_in(self, user_id: str) -> bool:
        """Withdraw the opt-out; False when there was none."""
        with self.store.transaction() as conn:
            return conn.execute("DELETE FROM learning_optouts WHERE user_id = ?", (user_id,)).rowcount > 0

    def users(self) -> set[str]:
        """Everyone who opted out."""
        return {row[0] for row in self.store.query("SELECT user_id FROM learning_optouts")}

    def has_opted_out(self, user_id: str) -> bool:
        """True when `user_id` opted out."""
        return self.store.scalar("SELECT 1 FROM learning_optouts WHERE user_id = ?", (user_id,)) is not None
