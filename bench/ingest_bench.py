"""Bulk-ingest throughput against raw SQLite anchors measured in the same run.

Run: python bench/ingest_bench.py [--n 20000] [--modes bare,fast] [--dir /tmp/hololoom-bench]

The same synthetic JSON Lines corpus (bench/corpus.py) is written to:
- anchor "trigger": raw sqlite3, the messages table with its FTS5 external-content index fed by a
  per-row AFTER INSERT trigger, one `executemany` per batch of 2,000, synchronous=FULL;
- anchor "bulk-FTS": the same rows inserted first, then each batch indexed with one
  `INSERT INTO messages_fts(rowid, body) SELECT id, body FROM messages WHERE id > ?`;
- the project's `hololoom ingest` path (`ingest_file`) per retrieval mode on a fresh data dir.
  "stored" is the store stage's own time (`IngestReport.store_seconds`: parse, validate, redact,
  insert and index, durable and searchable by BM25); "analysis" is the analyse stage (entities, graph,
  detectors, tracked items) plus, in fast mode, the embeddings; "end to end" is the whole wall time.

Every project rate is printed with its fraction of both anchors, so figures from a noisy shared
machine can be compared across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import write_corpus  # noqa: E402

from hololoom_core.config import load_config  # noqa: E402
from hololoom_core.engine import Engine  # noqa: E402
from hololoom_core.memory.ingest import ingest_file  # noqa: E402
from hololoom_core.memory.service import MemoryService  # noqa: E402

BATCH = 2000
ANCHOR_SCHEMA = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, transport TEXT NOT NULL, room_id TEXT NOT NULL,
    thread_id TEXT, reply_to TEXT, sender TEXT NOT NULL, body TEXT NOT NULL, ts REAL NOT NULL,
    is_bot INTEGER NOT NULL DEFAULT 0, kind TEXT NOT NULL DEFAULT 'chat', redacted INTEGER NOT NULL DEFAULT 0,
    edited_ts REAL, delivery TEXT, meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX messages_room_ts ON messages(room_id, ts);
CREATE INDEX messages_thread ON messages(thread_id);
CREATE INDEX messages_sender ON messages(sender);
CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='id',
    tokenize='porter unicode61');
"""
ANCHOR_TRIGGER = """
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
"""
INSERT = ("INSERT INTO messages(event_id, transport, room_id, thread_id, reply_to, sender, body, ts) "
          "VALUES (?, 'import', ?, ?, ?, ?, ?, ?) ON CONFLICT(event_id) DO NOTHING")


def corpus_rows(corpus: Path) -> list[tuple[object, ...]]:
    """The corpus as message rows (parsing is not timed: the anchors measure SQLite alone)."""
    rows: list[tuple[object, ...]] = []
    for number, line in enumerate(corpus.read_text(encoding="utf-8").splitlines()):
        data = json.loads(line)
        rows.append((data.get("event_id") or f"$anchor-{number}", data["room"], data.get("thread"),
                     data.get("reply_to"), data["sender"], data["body"], float(data["ts"])))
    return rows


def raw_anchor(rows: list[tuple[object, ...]], path: Path, *, bulk_fts: bool) -> float:
    """Rows/s of raw sqlite3 into the messages table + FTS5 (per-row trigger, or rows then one bulk index)."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(ANCHOR_SCHEMA + ("" if bulk_fts else ANCHOR_TRIGGER))
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        last = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
        conn.executemany(INSERT, rows[start:start + BATCH])
        if bulk_fts:
            conn.execute("INSERT INTO messages_fts(rowid, body) SELECT id, body FROM messages WHERE id > ?", (last,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    found = conn.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'latency'").fetchone()[0]
    conn.close()
    assert found > 0, "the anchor index finds nothing"
    return len(rows) / elapsed


def config_for(data_dir: Path, mode: str):  # noqa: ANN201
    """The default configuration on a fresh data dir in one mode."""
    shutil.rmtree(data_dir, ignore_errors=True)
    return load_config(None, data_dir=data_dir, environ={"HOLOLOOM_CONFIG_MODE": mode})


async def run_mode(corpus: Path, data_dir: Path, mode: str) -> dict[str, float]:
    """Ingest the corpus through `ingest_file` in one mode; returns timings per stage (their busy seconds)."""
    engine = Engine(config_for(data_dir, mode))
    memory = engine.capability(MemoryService)
    if mode != "bare":
        await memory.prepare(mode)  # model loading is not ingest work: load before the clock starts
    started = time.perf_counter()
    report = await ingest_file(engine, corpus, embed=mode != "bare")
    finished = time.perf_counter()
    searchable = len(engine.messages.search("latency errors", limit=5))
    await engine.close()
    assert searchable > 0, "nothing found by BM25 after the ingest"
    return {"stored": report.stored, "insights": report.insights, "embedded": report.embedded,
            "store_s": report.store_seconds, "analyse_s": report.analyse_seconds, "embed_s": report.embed_seconds,
            "total_s": finished - started}


async def main() -> None:
    """Print the anchors and the project's rates as fractions of them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--modes", default="bare,fast")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hololoom-bench-ingest"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    corpus = write_corpus(args.dir / f"corpus-{args.n}.jsonl", args.n)
    print(f"corpus: {args.n:,} synthetic messages; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.2f}; SQLite synchronous=full, batches of {BATCH}")
    rows = corpus_rows(corpus)
    trigger = raw_anchor(rows, args.dir / "anchor-trigger.sqlite3", bulk_fts=False)
    bulk = raw_anchor(rows, args.dir / "anchor-bulk.sqlite3", bulk_fts=True)
    print(f"anchor raw sqlite, per-row FTS trigger:  {trigger:>9,.0f} rows/s")
    print(f"anchor raw sqlite, rows then bulk FTS:   {bulk:>9,.0f} rows/s")
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        figures = await run_mode(corpus, args.dir / mode, mode)
        stored_rate = figures["stored"] / figures["store_s"]
        total_rate = figures["stored"] / figures["total_s"]
        print(f"{mode:5} stored+searchable: {stored_rate:>9,.0f} msgs/s = {stored_rate / trigger:.2f}x trigger, "
              f"{stored_rate / bulk:.0%} of bulk-FTS ({figures['store_s']:.2f} s)")
        analysis_s = figures["analyse_s"] + figures["embed_s"]
        analysis_rate = figures["stored"] / analysis_s if analysis_s else 0.0
        print(f"{mode:5} analysis:          {analysis_rate:>9,.0f} msgs/s (analyse {figures['analyse_s']:.2f} s"
              f" + embed {figures['embed_s']:.2f} s)")
        print(f"{mode:5} end to end:        {total_rate:>9,.0f} msgs/s = {total_rate / trigger:.2f}x trigger, "
              f"{total_rate / bulk:.0%} of bulk-FTS ({figures['total_s']:.2f} s; {figures['insights']:,} insights, "
              f"{figures['embedded']:,} embedded)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
