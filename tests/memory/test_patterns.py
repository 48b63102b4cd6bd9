"""The pattern book: per-room overrides, the operator's file, reload without restart, one-line errors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hololoom_core.engine import Engine
from hololoom_core.events import EngineError
from hololoom_core.memory.detectors import analyse_text
from hololoom_core.memory.patterns import PatternBook, PatternError
from tests.memory.conftest import say

SIGNAL = "checkout-api is down, customers can't pay"


def kinds(book: PatternBook, room: str, text: str) -> set[str]:
    return {d.kind for d in analyse_text(text, book.for_room(room))}


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime + 5
    os.utime(path, (stamp, stamp))  # a visible change even within one mtime tick


def test_shipped_room_override_switches_a_detector_off() -> None:
    book = PatternBook(None)
    assert "incident_signal" in kinds(book, "#ops", SIGNAL)
    assert "incident_signal" not in kinds(book, "#random", SIGNAL)
    assert book.for_room("#random").incident_suggestion["enabled"] is False


def test_operator_file_overrides_thresholds_adds_patterns_and_rooms_by_glob(tmp_path: Path) -> None:
    path = tmp_path / "patterns.yaml"
    write(path, """
detectors:
  decision:
    add_patterns:
      - {id: lgtm-ship, weight: 0.9, regex: "\\\\blgtm,? ship it\\\\b"}
rooms:
  "#incident-*":
    detectors:
      question: {threshold: 0.99}
  "#quiet":
    detectors:
      action_item: {enabled: false}
""")
    book = PatternBook(path)
    assert "decision" in kinds(book, "#ops", "lgtm ship it")
    assert "question" in kinds(book, "#ops", "is the canary healthy?")
    assert "question" not in kinds(book, "#incident-4821", "is the canary healthy?")
    assert "action_item" in kinds(book, "#ops", "I'll rotate the key")
    assert "action_item" not in kinds(book, "#quiet", "I'll rotate the key")
    assert "incident_signal" not in kinds(book, "#random", SIGNAL)  # shipped room entries still apply


def test_changes_are_picked_up_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "patterns.yaml"
    reloads: list[str] = []
    book = PatternBook(path, check_interval=0.0, on_reload=reloads.append)
    assert "decision" not in kinds(book, "#ops", "lgtm ship it")
    write(path, "detectors:\n  decision:\n    add_patterns:\n"
                "      - {id: lgtm, weight: 0.95, regex: 'lgtm'}\n")
    assert "decision" in kinds(book, "#ops", "lgtm ship it")
    assert reloads and book.generation == 2
    write(path, "rooms:\n  '#ops':\n    detectors:\n      decision: {enabled: false}\n")
    assert "decision" not in kinds(book, "#ops", "We decided to roll back")
    assert "decision" in kinds(book, "#db", "We decided to roll back")


@pytest.mark.parametrize(("text", "expected"), [
    ("detectors:\n  decision:\n    threshold: 2\n", "patterns.yaml:3: 'detectors.decision.threshold'"),
    ("detectors:\n  decisoin:\n    threshold: 0.5\n", "patterns.yaml:2: 'detectors.decisoin'"),
    ("detectors:\n  decision:\n    add_patterns:\n      - {id: bad, weight: 0.5, regex: 'a(b'}\n",
     "patterns.yaml:4 (pattern bad): bad regex"),
    ("detectors: [\n", "YAML syntax error"),
])
def test_a_broken_file_is_one_line_and_the_last_good_patterns_stay(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "patterns.yaml"
    write(path, "detectors:\n  decision:\n    add_patterns:\n      - {id: lgtm, weight: 0.95, regex: 'lgtm'}\n")
    errors: list[str] = []
    book = PatternBook(path, check_interval=0.0, on_error=errors.append)
    write(path, text)
    assert "decision" in kinds(book, "#ops", "lgtm")  # the last good file is still in force
    assert len(errors) == 1 and expected in errors[0] and "\n" not in errors[0]
    assert str(path) in errors[0]


def test_a_broken_file_at_start_runs_on_the_shipped_patterns(tmp_path: Path) -> None:
    path = tmp_path / "patterns.yaml"
    write(path, "detectors:\n  question: {threshold: yes please}\n")
    book = PatternBook(path)
    assert book.last_error and "patterns.yaml:2" in book.last_error
    assert "question" in kinds(book, "#ops", "is the canary healthy?")
    with pytest.raises(PatternError):
        PatternBook(None, shipped_path=path)  # a broken shipped file is a bug: it raises


async def test_engine_uses_the_data_dir_pattern_file_and_reports_errors(engine_factory: Callable[..., Engine],
                                                                        tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    path = data / "patterns.yaml"
    write(path, "rooms:\n  '#ops':\n    detectors:\n      incident_signal: {threshold: 0.99}\n")
    engine = engine_factory("bare", patterns_check_s=0.0)
    errors: list[EngineError] = []
    engine.bus.subscribe(lambda e: errors.append(e) if isinstance(e, EngineError) else None)
    first = await say(engine, "alice", "checkout-api is down")
    assert not [i for i in first.insights if i.kind == "incident_signal"]
    write(path, "rooms:\n  '#ops':\n    detectors:\n      incident_signal: {threshold: 0.5}\n")
    second = await say(engine, "alice", "checkout-api is down")
    assert [i.kind for i in second.insights] == ["incident_signal"]
    write(path, "rooms: 3\n")
    await say(engine, "alice", "hello")
    assert [e.where for e in errors] == ["patterns"] and "patterns.yaml:1" in errors[0].error
    await engine.close()
