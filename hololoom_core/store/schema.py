"""The core tables: rooms, users, messages (with an FTS5 index), interactions, feedback, insights, state."""

from __future__ import annotations

from hololoom_core.store.db import register_migrations

CORE_V1 = """
CREATE TABLE rooms (
    room_id     TEXT PRIMARY KEY,
    transport   TEXT NOT NULL,
    name        TEXT,
    created_ts  REAL NOT NULL,
    last_ts     REAL NOT NULL
);
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    display_name  TEXT,
    is_bot        INTEGER NOT NULL DEFAULT 0,
    first_seen    REAL NOT NULL,
    last_seen     REAL NOT NULL
);
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    transport   TEXT NOT NULL,
    room_id     TEXT NOT NULL REFERENCES rooms(room_id),
    thread_id   TEXT,
    reply_to    TEXT,
    sender      TEXT NOT NULL,
    body        TEXT NOT NULL,
    ts          REAL NOT NULL,
    is_bot      INTEGER NOT NULL DEFAULT 0,
    kind        TEXT NOT NULL DEFAULT 'chat',
    redacted    INTEGER NOT NULL DEFAULT 0,
    edited_ts   REAL,
    delivery    TEXT,
    meta        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX messages_room_ts ON messages(room_id, ts);
CREATE INDEX messages_thread ON messages(thread_id);
CREATE INDEX messages_sender ON messages(sender);
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body, content='messages', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER messages_au AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TABLE interactions (
    id                INTEGER PRIMARY KEY,
    message_id        INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    reply_message_id  INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    room_id           TEXT,
    asker             TEXT,
    query             TEXT NOT NULL,
    answer            TEXT NOT NULL,
    sections          TEXT NOT NULL,
    agent             TEXT NOT NULL,
    provider          TEXT NOT NULL,
    configuration     TEXT NOT NULL,
    quality           REAL NOT NULL,
    scores            TEXT NOT NULL,
    loop_steps        TEXT NOT NULL DEFAULT '[]',
    sources           TEXT NOT NULL DEFAULT '[]',
    grounded          INTEGER NOT NULL DEFAULT 0,
    latency_ms        REAL NOT NULL,
    feedback          INTEGER NOT NULL DEFAULT 0,
    feedback_count    INTEGER NOT NULL DEFAULT 0,
    created_ts        REAL NOT NULL
);
CREATE INDEX interactions_created ON interactions(created_ts);
CREATE INDEX interactions_message ON interactions(message_id);
CREATE TABLE feedback (
    id              INTEGER PRIMARY KEY,
    interaction_id  INTEGER NOT NULL REFERENCES interactions(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    value           INTEGER NOT NULL,
    source          TEXT NOT NULL,
    ref             TEXT,
    ts              REAL NOT NULL,
    UNIQUE(interaction_id, user_id, source, ref)
);
CREATE TABLE insights (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    room_id     TEXT NOT NULL,
    text        TEXT NOT NULL,
    confidence  REAL NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    status      TEXT NOT NULL DEFAULT 'open',
    ts          REAL NOT NULL
);
CREATE INDEX insights_room_kind ON insights(room_id, kind, status);
CREATE TABLE pending_actions (
    message_id  INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    created_ts  REAL NOT NULL
);
CREATE TABLE kv_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL,
    ts     REAL NOT NULL
);
"""

# v2: new rows are indexed by the code that inserts them (`MessageStore.insert` / `insert_batch`, the latter
# with one `INSERT INTO messages_fts ... SELECT` per batch) instead of a per-row trigger; edits and deletes
# keep their triggers so the index follows every change of a body.
CORE_V2 = """
DROP TRIGGER IF EXISTS messages_ai;
"""

# v3: what an answer's routing, prediction and collaboration decided (`Answer.details`), as JSON.
CORE_V3 = """
ALTER TABLE interactions ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
"""

register_migrations("core", [CORE_V1, CORE_V2, CORE_V3])
