"""Scenario files: shipped ones replay through the pipeline; bad ones get one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hololoom_core.engine import Engine
from hololoom_core.transport.local import LocalRoom
from hololoom_core.transport.scenarios import ScenarioError, load_scenario, play_scenario, shipped_scenarios


def test_at_least_three_realistic_scenarios_ship() -> None:
    shipped = shipped_scenarios()
    assert {"api-500-incident", "deploy-rollback", "code-review"} <= set(shipped)
    for name in shipped:
        scenario = load_scenario(name)
        assert len(scenario.speakers) >= 3 and len(scenario.messages) >= 10


async def test_replay_goes_through_the_pipeline_and_the_bot_answers(engine: Engine) -> None:
    scenario = load_scenario("api-500-incident")
    room = LocalRoom(engine, room_id=scenario.room)
    progress: list[int] = []
    results = await play_scenario(scenario, room, speed=0, on_progress=lambda i, n, *_: progress.append(i))
    assert progress == list(range(1, len(scenario.messages) + 1))
    assert engine.stats.messages >= len(scenario.messages)
    answers = [reply.answer for result in results for reply in result.replies if reply.answer is not None]
    runbooks = [source.ref for source in answers[0].sources if source.kind == "runbook"] if answers else []
    assert runbooks[:2] == ["db-connection-pool-exhaustion", "http-5xx"]  # the room's QueuePool error, then the symptom
    threaded = [result.message for result in results if result.message and result.message.thread_id]
    assert threaded, "thread keys become real threads"
    authors = {message.sender for message in engine.messages.recent(scenario.room, limit=500)}
    assert {"alice", "bob", "priya"} <= authors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nroom: '#r'\nspeakers: [{id: a}]\nmessages:\n  - as: b\n    text: hi\n", ":5: message #1: speaker 'b'"),
        ("name: x\nroom: '#r'\nspeakers: [{id: a}]\nmessages:\n  - as: a\n    text: hi\n    delay: soon\n", ":7: message #1: 'delay'"),
        ("name: x\nroom: '#r'\nspeakers: []\nmessages: []\n", ":3: 'speakers' must be a non-empty list"),
        ("name: [x\n", "YAML syntax error"),
        ("room: '#r'\n", "missing key 'name'"),
    ],
)
def test_bad_scenario_gives_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    assert "\n" not in str(caught.value) and expected in str(caught.value)


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="shipped scenarios: .*api-500-incident"):
        load_scenario("api-501-incident")


def test_app_refuses_a_bad_scenario_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "hololoom_tui", "--data-dir", str(tmp_path), "--scenario", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"hololoom-tui: scenario error: {path}:1: missing key 'room'"
