"""The quality tables: every prediction with its outcome, and the running progressive-validation figures."""

from __future__ import annotations

QUALITY_V1 = """
CREATE TABLE quality_predictions (
    interaction_id     INTEGER PRIMARY KEY,
    ts                 REAL NOT NULL,
    asker              TEXT,
    agent              TEXT NOT NULL,
    features           TEXT NOT NULL,
    predicted_quality  REAL NOT NULL,
    retry_probability  REAL NOT NULL,
    difficulty         REAL NOT NULL,
    raw_score          REAL NOT NULL,
    tier               TEXT NOT NULL,
    recommended        TEXT NOT NULL,
    applied            INTEGER NOT NULL,
    ran                TEXT NOT NULL,
    latency_ms         REAL NOT NULL,
    judged_quality     REAL,
    reasked            INTEGER NOT NULL DEFAULT 0,
    thumbs_down        INTEGER NOT NULL DEFAULT 0,
    bad                INTEGER,
    labelled_ts        REAL,
    model_outcomes     INTEGER NOT NULL
);
CREATE INDEX quality_predictions_open ON quality_predictions(bad, ts);
CREATE TABLE quality_figures (
    id        INTEGER PRIMARY KEY,
    ts        REAL NOT NULL,
    outcomes  INTEGER NOT NULL,
    figures   TEXT NOT NULL
);
"""
