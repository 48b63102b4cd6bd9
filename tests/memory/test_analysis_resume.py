"""The analysis watermark: an ingest killed (SIGKILL) during analysis resumes where it stopped.

Real subprocesses run `hololoom ingest` on real SQLite files: one uninterrupted, one killed while a
stored batch waits for (or is in) its analysis, then run again. The second database must hold
exactly what the first holds: the same insights, tracked items (with their statuses), graph nodes
and edges, nothing twice and nothing missing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hololoom_core.clock import SteppingClock
from hololoom_core.engine import Engine
from hololoom_core.memory.service import MemoryService
from hololoom_core.models import ChatMessage

from .conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = ["alice", "bob", "priya", "marco", "dana"]
SERVICES = ["checkout-api", "payments-worker", "search-api", "ledger-db", "auth-gateway"]


def write_chat(path: Path, count: int) -> Path:
    """A deterministic chat with decisions, reversals, action items, completions, questions and answers."""
    lines = []
    for n in range(count):
        person, other = PEOPLE[n % 5], PEOPLE[(n + 2) % 5]
        service = SERVICES[(n // 7) % 5]
        room = f"#room{n % 4}"
        kind = n % 9
        body = [
            f"We decided to move {service} to the new cluster",
            f"@{other} can you restart {service} on web-0{n % 9}.prod?",
            f"why is {service} returning 502s since {n % 24}:00?",
            f"restarted {service}, done",
            f"because the {service} pool is exhausted, see INC-{n % 30}",
            f"scratch that, we will not move {service} to the new cluster after all",
            f"{service} is down, error rate at {n % 90}% and climbing",
            "lunch? anyone",
            f"I'll write the {service} runbook by friday",
        ][kind]
        record = {"room": room, "sender": person, "ts": 1764072000 + n * 30, "body": body,
                  "event_id": f"$e{n}"}
        if kind == 4 and n >= 2:
            record["reply_to"] = f"$e{n - 2}"
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ingest(data: Path, source: Path) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "HOLOLOOM_CONFIG_MODE": "bare", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "hololoom_core.cli", "--data-dir", str(data), "ingest",
                             str(source), "--batch", "150", "--no-embed"], env=environ, cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def progress(database: Path) -> tuple[int, int]:
    """(analysis watermark, last stored message id), read as another process would."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            mark = conn.execute("SELECT last_message_id FROM memory_analysis").fetchone()
            top = conn.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()
    except sqlite3.Error:
        return 0, 0
    return (int(mark[0]) if mark else 0), int(top[0])


def contents(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every analysis result, in a comparable form (edge row ids left out)."""
    with sqlite3.connect(database) as conn:
        return {
            "insights": conn.execute("SELECT id, kind, message_id, room_id, text, confidence, data, status, ts "
                                     "FROM insights ORDER BY id").fetchall(),
            "items": conn.execute("SELECT * FROM memory_items ORDER BY id").fetchall(),
            "nodes": conn.execute("SELECT key, kind, label, message_id, ts, last_ts, mentions, data "
                                  "FROM memory_nodes ORDER BY key").fetchall(),
            "edges": conn.execute("SELECT src, dst, relation, message_id, ts FROM memory_edges "
                                  "ORDER BY src, dst, relation, message_id").fetchall(),
            "watermark": conn.execute("SELECT last_message_id FROM memory_analysis").fetchall(),
        }


def test_ingest_killed_during_analysis_resumes_exactly(tmp_path: Path) -> None:
    source = write_chat(tmp_path / "chat.jsonl", 6000)
    reference = tmp_path / "reference"
    done = ingest(reference, source)
    assert done.wait(timeout=300) == 0, done.stderr.read().decode() if done.stderr else ""
    expected = contents(reference / "hololoom.sqlite3")
    assert len(expected["insights"]) > 2000 and len(expected["items"]) > 1000
    statuses = {row[11] for row in expected["items"]}
    assert {"reversed", "done", "answered"} <= statuses  # later messages changed earlier items

    killed_with_backlog = False
    for attempt in range(4):
        data = tmp_path / f"killed-{attempt}"
        database = data / "hololoom.sqlite3"
        running = ingest(data, source)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and running.poll() is None:
            mark, top = progress(database)
            if 1500 <= top and mark < top:  # a stored batch is being analysed
                running.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        running.wait(timeout=60)
        if running.returncode != -signal.SIGKILL:
            continue
        mark, top = progress(database)
        assert mark <= top < 6000
        killed_with_backlog = mark < top
        resumed = ingest(data, source)
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode() if resumed.stderr else ""
        assert contents(database) == expected
        if killed_with_backlog:
            break
    assert killed_with_backlog, "never managed to kill the ingest with stored messages waiting for analysis"


async def test_live_messages_are_analysed_once_after_the_backlog(tmp_path: Path) -> None:
    """A live message catches up the backlog first, then is analysed itself; a restart analyses nothing again."""
    engine = Engine(make_config(tmp_path / "data"), clock=SteppingClock(step=1.0))
    analysis = engine.capability(MemoryService).analysis
    kept = [engine.keep(ChatMessage(room_id="#ops", sender=f"@{p}:x", body=f"We decided to retire {s}",
                                    transport="local", event_id=f"$b{n}", ts=1764072000 + n))
            for n, (p, s) in enumerate(zip(PEOPLE, SERVICES, strict=True))]
    assert all(k is not None for k in kept) and analysis.backlog() == 5  # stored, not analysed yet
    result = await engine.handle(ChatMessage(room_id="#ops", sender="@bob:x", body="why is checkout-api down?",
                                             transport="local", event_id="$live", ts=1764072100))
    assert [i.kind for i in result.insights] == ["question"]
    assert analysis.backlog() == 0
    assert engine.store.scalar("SELECT count(*) FROM insights WHERE kind = 'decision'") == 5
    assert engine.store.scalar("SELECT count(*) FROM memory_nodes WHERE kind = 'message'") == 6
    await engine.close()
    restarted = Engine(make_config(tmp_path / "data"), clock=SteppingClock(step=1.0))
    await restarted.start()
    assert restarted.store.scalar("SELECT count(*) FROM insights") == 6
    assert restarted.capability(MemoryService).analysis.watermark() == restarted.messages.count()
    await restarted.close()


@pytest.mark.parametrize("batch", [1, 7, 2000])
async def test_batch_size_does_not_change_the_results(tmp_path: Path, batch: int) -> None:
    """Analysing one message at a time (live) or in batches gives the same rows."""
    source = write_chat(tmp_path / "chat.jsonl", 400)
    results = []
    for run, size in (("one", 1), ("many", batch)):
        engine = Engine(make_config(tmp_path / run), clock=SteppingClock(step=1.0))
        records = [json.loads(line) for line in source.read_text().splitlines()]
        stored = []
        for record in records:
            kept = engine.keep(ChatMessage(room_id=record["room"], sender=record["sender"], body=record["body"],
                                           transport="import", event_id=record["event_id"], ts=record["ts"],
                                           reply_to=record.get("reply_to")))
            assert kept is not None
            stored.append(kept.stored)
            if size == 1:
                engine.notice(kept.stored)
        if size != 1:
            engine.capability(MemoryService).analysis.catch_up(in_hand=stored, batch_size=size)
        await engine.close()
        results.append(contents(tmp_path / run / "hololoom.sqlite3"))
    assert results[0] == results[1]
