"""Answers use the room: the runbook chosen mid-incident, no runbook without grounding, replays beside others."""

from __future__ import annotations

import sys
from pathlib import Path

from hololoom_core.answers.types import AnswerContext, Configuration
from hololoom_core.engine import Engine
from hololoom_core.engine.room_context import RoomContextRetriever
from hololoom_core.models import Answer
from hololoom_core.transport.local import LocalRoom
from hololoom_core.transport.scenarios import load_scenario, play_scenario

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from runbook_choice import accuracy, measure  # noqa: E402


def _runbooks(answer: Answer) -> list[str]:
    return [source.ref for source in answer.sources if source.kind == "runbook"]


async def test_after_the_queuepool_error_the_answer_uses_the_pool_runbook(engine: Engine) -> None:
    scenario = load_scenario("api-500-incident")
    results = await play_scenario(scenario, LocalRoom(engine, room_id=scenario.room), speed=0)
    answers = [reply.answer for result in results for reply in result.replies if reply.answer is not None]
    assert len(answers) == 1
    answer = answers[0]
    assert _runbooks(answer)[0] == "db-connection-pool-exhaustion"
    assert "http-5xx" in _runbooks(answer)  # the symptom's runbook follows the cause's
    cited = [source for source in answer.sources if source.kind == "message"]
    assert any("QueuePool limit" in source.excerpt and source.author == "Bob Okafor" for source in cited)
    assert "none found" not in answer.sections["PLAN"]


async def test_the_same_question_without_the_room_gets_the_symptom_runbook(engine: Engine) -> None:
    room = LocalRoom(engine, room_id="#quiet")
    result = await room.post("alice", "@hololoom checkout-api is throwing 500 internal server errors and some "
                                      "502 bad gateway since a config change, what should I check first?")
    answer = result.replies[0].answer
    assert answer is not None and _runbooks(answer)[0] == "http-5xx"


async def test_refund_idempotency_gets_no_operational_runbook(engine: Engine) -> None:
    scenario = load_scenario("code-review")
    results = await play_scenario(scenario, LocalRoom(engine, room_id=scenario.room), speed=0)
    answers = [reply.answer for result in results for reply in result.replies if reply.answer is not None]
    assert answers and all(not _runbooks(answer) for answer in answers)
    followup = await LocalRoom(engine, room_id=scenario.room).post(
        "sam", "@hololoom How do I make a refund endpoint idempotent?")
    answer = followup.replies[0].answer
    assert answer is not None and "latency-spike" not in _runbooks(answer)


async def test_a_question_with_no_grounding_says_so_and_is_judged_low(engine: Engine) -> None:
    result = await LocalRoom(engine, room_id="#empty").post("alice", "@hololoom How do I make a refund endpoint "
                                                                     "idempotent?")
    answer = result.replies[0].answer
    assert answer is not None and not answer.sources
    assert "can't ground an answer" in answer.sections["ANSWER"]
    assert answer.verdict.score < 0.7


async def test_room_context_reads_only_recent_signal_messages_of_the_room(engine: Engine) -> None:
    room = LocalRoom(engine, room_id="#ops")
    await room.post("bob", "lunch at noon?")
    await room.post("bob", "payments-api: ConnectionRefusedError: [Errno 111] Connection refused")
    await LocalRoom(engine, room_id="#other").post("bob", "search-api OOMKilled again")
    asked = await room.post("alice", "what now")
    assert asked.message is not None
    context = AnswerContext("what now", "#ops", "alice", asked.message.id)
    sources = RoomContextRetriever(engine).retrieve(context, Configuration(), [])
    assert [source.excerpt for source in sources] == [
        "payments-api: ConnectionRefusedError: [Errno 111] Connection refused"]
    assert RoomContextRetriever(engine).retrieve(context, Configuration("off", {"room_context": 0}), []) == []


async def test_scenarios_replay_beside_other_open_incidents_and_twice(engine: Engine) -> None:
    room = LocalRoom(engine, room_id="#ops")
    await room.post("dana", "!incident declare search-api latency sev3")
    scenario = load_scenario("api-500-incident")
    for _ in range(2):
        results = await play_scenario(scenario, LocalRoom(engine, room_id=scenario.room), speed=0)
        resolved = results[-1].replies[0].body
        assert "resolved" in resolved and "no incident" not in resolved, resolved
    from hololoom_core.ops.incidents.service import IncidentService

    incidents = engine.capability(IncidentService)
    assert [incident.key for incident in incidents.open_incidents()] == ["INC-1"]  # only dana's stays open


def test_runbook_choice_accuracy_on_the_shipped_scenarios() -> None:
    import asyncio

    rows = asyncio.run(measure())
    assert len(rows) >= 5
    assert accuracy(rows, 2) == 1.0, rows
