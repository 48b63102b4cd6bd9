"""`hololoom ingest/recall/detect/insights`: formats, idempotence, one-line errors that keep earlier records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hololoom_core.cli.main import main
from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_core.memory.service import MemoryService

RECORDS: list[dict[str, Any]] = [
    {"room": "#ops", "sender": "alice", "ts": 1764072000, "body": "checkout-api returns 502 since 14:02"},
    {"room": "#ops", "sender": "bob", "ts": "2025-11-25T12:01:00Z", "body": "We decided to roll back 3f9a2c1",
     "thread": "inc-1"},
    {"room": "#db", "sender": "marco", "ts": 1764072120000, "body": "why is replication lag at 40s on db-02.prod?"},
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_jsonl(path: Path, records: Sequence[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def stored_bodies(data: Path) -> list[str]:
    config = load_config(None, data_dir=data, environ={"HOLOLOOM_CONFIG_MODE": "bare"})
    engine = Engine(config)
    try:
        return [m.body for m in engine.messages.recent(limit=100)]
    finally:
        engine.store.close()


def test_jsonl_ingest_is_complete_and_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLOLOOM_CONFIG_MODE", "bare")
    data, source = str(tmp_path / "data"), write_jsonl(tmp_path / "chat.jsonl", RECORDS)
    code, out, err = run(capsys, "--data-dir", data, "ingest", str(source))
    assert code == 0 and "3 stored" in out and "3 insights" in out
    assert "ingest: store 3/3 (100%" in err  # plain progress lines when stderr is not a terminal
    code, out, _ = run(capsys, "--data-dir", data, "ingest", str(source), "--json")
    report = json.loads(out)
    assert code == 0 and report["stored"] == 0 and report["duplicates"] == 3
    assert stored_bodies(tmp_path / "data") == [r["body"] for r in RECORDS]
    code, out, _ = run(capsys, "--data-dir", data, "insights")
    assert code == 0 and "decision 0.90" in out and "question" in out and "#db" in out
    code, out, _ = run(capsys, "--data-dir", data, "recall", "roll back", "--json")
    hits = json.loads(out)["hits"]
    assert hits[0]["body"] == RECORDS[1]["body"] and hits[0]["thread"] == "inc-1" and hits[0]["author"] == "bob"
    code, out, _ = run(capsys, "--data-dir", data, "recall", "lag", "--room", "#ops")
    assert "0 message(s)" in out


@pytest.mark.parametrize(("bad", "message"), [
    ("{not json", "chat.jsonl:3: not valid JSON"),
    ({"room": "#ops", "sender": "carol", "ts": 1, "bdy": "x"}, "chat.jsonl:3: missing 'body'"),
    ({"room": "#ops", "sender": "carol", "ts": "yesterday", "body": "x"}, "chat.jsonl:3: 'ts' 'yesterday'"),
    ({"room": "#ops", "sender": "car ol", "ts": 1, "body": "x"}, "chat.jsonl:3: 'sender' must be"),
    ([1, 2], "chat.jsonl:3: a record must be a JSON object"),
])
def test_a_bad_record_is_one_line_and_earlier_records_stay(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           bad: object, message: str) -> None:
    source = write_jsonl(tmp_path / "chat.jsonl", [RECORDS[0], RECORDS[1], bad, RECORDS[2]])
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "data"), "ingest", str(source), "--no-embed")
    lines = [line for line in err.splitlines() if line.startswith("hololoom:")]
    assert code == 1 and len(lines) == 1
    assert message in lines[0] and "the 2 record(s) before it are stored" in lines[0]
    assert "Traceback" not in err
    assert stored_bodies(tmp_path / "data") == [RECORDS[0]["body"], RECORDS[1]["body"]]


def test_skip_bad_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_jsonl(tmp_path / "chat.jsonl", [RECORDS[0], "{oops", "[1]", RECORDS[2]])
    code, out, err = run(capsys, "--data-dir", str(tmp_path / "data"), "ingest", str(source), "--skip-bad",
                         "--no-embed")
    assert code == 0 and "2 stored" in out and "chat.jsonl:2: not valid JSON" in err
    assert "2 skipped (2 bad, 0 not messages)" in out  # the skipped bad records are counted, and that is success
    assert len(stored_bodies(tmp_path / "data")) == 2


def test_element_export_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export: dict[str, Any] = {
        "room_name": "ops", "export_date": "2025-11-25", "exported_by": "@alice:example.org",
        "messages": [
            {"type": "m.room.create", "sender": "@alice:example.org", "origin_server_ts": 1764072000000,
             "content": {}, "event_id": "$create", "room_id": "!ops:example.org"},
            {"type": "m.room.message", "sender": "@alice:example.org", "origin_server_ts": 1764072001000,
             "content": {"msgtype": "m.text", "body": "INC-7: payments-api is down"}, "event_id": "$a",
             "room_id": "!ops:example.org"},
            {"type": "m.room.message", "sender": "@bob:example.org", "origin_server_ts": 1764072002000,
             "content": {"msgtype": "m.text", "body": "I'll restart payments-api",
                         "m.relates_to": {"rel_type": "m.thread", "event_id": "$a"}},
             "event_id": "$b", "room_id": "!ops:example.org"},
            {"type": "m.reaction", "sender": "@bob:example.org", "origin_server_ts": 1764072003000,
             "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$a", "key": "👍"}},
             "event_id": "$c", "room_id": "!ops:example.org"},
        ],
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export, indent=2), encoding="utf-8")
    code, out, _ = run(capsys, "--data-dir", str(tmp_path / "data"), "ingest", str(path), "--no-embed", "--json")
    report = json.loads(out)
    assert code == 0 and report["format"] == "element" and report["stored"] == 2 and report["skipped"] == 2
    config = load_config(None, data_dir=tmp_path / "data", environ={"HOLOLOOM_CONFIG_MODE": "bare"})
    engine = Engine(config)
    try:
        threaded = engine.messages.by_event_id("$b")
        assert threaded is not None and threaded.thread_id == "$a" and threaded.room_id == "!ops:example.org"
        actions = engine.capability(MemoryService).items.list("action_item", room_id="!ops:example.org")
        assert [a.owner for a in actions] == ["bob"]
    finally:
        engine.store.close()
    export["messages"][2] = {"type": "m.room.message", "sender": "@bob:example.org", "content": {"body": "x"},
                             "event_id": "$broken"}
    path.write_text(json.dumps(export), encoding="utf-8")
    code, _, err = run(capsys, "--data-dir", str(tmp_path / "data2"), "ingest", str(path), "--no-embed")
    assert code == 1 and "export.json messages[2] ($broken): 'origin_server_ts' is missing" in err


def test_detect_prints_one_line_with_confidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--data-dir", str(tmp_path), "detect",
                       "Decision: roll back now. @bob please write the postmortem by friday")
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert out.startswith(("decision 0.", "action_item 0.")) and "owner bob" in out and "due 20" in out
    code, out, _ = run(capsys, "--data-dir", str(tmp_path), "detect", "the site is down, 500s", "--room", "#random")
    assert out.strip() == "none"
    code, out, _ = run(capsys, "--data-dir", str(tmp_path), "detect", "is the canary healthy?", "--json")
    assert json.loads(out)["detections"][0]["kind"] == "question"
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "detect", "  ")
    assert code == 2 and "the text is empty" in err
