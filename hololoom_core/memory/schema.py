"""The memory capability's tables: the knowledge graph, stored embeddings, tracked items, suggestion state."""

from __future__ import annotations

MEMORY_V1 = """
CREATE TABLE memory_nodes (
    key         TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    label       TEXT NOT NULL,
    message_id  INTEGER,
    event_id    TEXT,
    ts          REAL NOT NULL,
    last_ts     REAL NOT NULL,
    mentions    INTEGER NOT NULL DEFAULT 1,
    data        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX memory_nodes_kind ON memory_nodes(kind);
CREATE TABLE memory_edges (
    id          INTEGER PRIMARY KEY,
    src         TEXT NOT NULL,
    dst         TEXT NOT NULL,
    relation    TEXT NOT NULL,
    message_id  INTEGER,
    event_id    TEXT,
    ts          REAL NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX memory_edges_src ON memory_edges(src);
CREATE INDEX memory_edges_dst ON memory_edges(dst);
CREATE INDEX memory_edges_message ON memory_edges(message_id);
CREATE TABLE memory_vectors (
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    model       TEXT NOT NULL,
    vector      BLOB NOT NULL,
    PRIMARY KEY (message_id, model)
) WITHOUT ROWID;
CREATE INDEX memory_vectors_model ON memory_vectors(model, message_id);
CREATE TABLE memory_items (
    id                 INTEGER PRIMARY KEY,
    insight_id         INTEGER UNIQUE REFERENCES insights(id) ON DELETE CASCADE,
    kind               TEXT NOT NULL,
    room_id            TEXT NOT NULL,
    thread_id          TEXT,
    message_id         INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    event_id           TEXT NOT NULL,
    author             TEXT NOT NULL,
    text               TEXT NOT NULL,
    owner              TEXT,
    due                TEXT,
    status             TEXT NOT NULL,
    status_message_id  INTEGER,
    status_ts          REAL,
    superseded_by      INTEGER REFERENCES memory_items(id) ON DELETE SET NULL,
    confidence         REAL NOT NULL,
    ts                 REAL NOT NULL
);
CREATE INDEX memory_items_room ON memory_items(room_id, kind, status);
CREATE INDEX memory_items_owner ON memory_items(owner, kind, status);
CREATE INDEX memory_items_message ON memory_items(message_id);
"""

# How far the analysis (entities, graph, detectors, insights, tracked items) has gone through the
# messages table; databases from before it were analysed inline, up to their last message.
MEMORY_V2 = """
CREATE TABLE memory_analysis (
    name             TEXT PRIMARY KEY,
    last_message_id  INTEGER NOT NULL
);
INSERT INTO memory_analysis(name, last_message_id) SELECT 'memory', coalesce(max(id), 0) FROM messages;
"""
