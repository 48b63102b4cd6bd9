"""Pre-answer features: what they measure, on a real store."""

from __future__ import annotations

from hololoom_core.answers.types import AnswerContext, RoutingDecision
from hololoom_core.engine import Engine
from hololoom_core.models import ChatMessage
from hololoom_core.quality.features import FEATURE_NAMES
from hololoom_core.quality.service import QualityService

from .conftest import MovableClock

DECISION = RoutingDecision(agent="generalist", confidence=0.7, margin=0.25)


def features(engine: Engine, question: str, room_id: str | None = None, asker: str | None = None) -> dict[str, float]:
    context = AnswerContext(question=question, room_id=room_id, asker=asker)
    return engine.capability(QualityService).features.compute(context, DECISION)


async def test_every_feature_is_present_and_bounded(engine: Engine) -> None:
    values = features(engine, "checkout-api returns HTTP 500 since the deploy")
    assert tuple(values) == FEATURE_NAMES
    assert all(0.0 <= value <= 1.0 for value in values.values())
    assert values["router_confidence"] == 0.7 and values["router_margin"] == 0.25  # the router's decision is used


async def test_runbook_match_and_unknown_words_separate_grounded_from_jargon(engine: Engine) -> None:
    grounded = features(engine, "no space left on device, disk full on the database volume")
    jargon = features(engine, "the frobnicator zorbs the quuxd glimmerbox")
    assert grounded["runbook_strength"] > 0.5 > jargon["runbook_strength"]
    assert jargon["unknown_share"] == 1.0 and grounded["unknown_share"] < 0.3


async def test_bm25_and_vocabulary_follow_kept_messages(engine: Engine, clock: MovableClock) -> None:
    before = features(engine, "why is the zorbulator flapping on shard seven?")
    engine.keep_batch([
        ChatMessage(room_id="#ops", sender="@alice:x", body=f"the zorbulator on shard seven is flapping again {n}",
                    transport="local", event_id=f"$z{n}", ts=clock.t)
        for n in range(3)
    ])
    after = features(engine, "why is the zorbulator flapping on shard seven?", room_id="#ops")
    assert before["bm25_max"] == 0.0 and after["bm25_max"] > 0.0 and after["bm25_hits"] == 0.3
    assert after["unknown_share"] < before["unknown_share"]  # the keeper added the new words
    assert after["room_activity"] > 0.0 and before["room_activity"] == 0.0


async def test_reask_feature_sees_a_similar_question_by_the_same_asker_within_the_window(
    engine: Engine, clock: MovableClock
) -> None:
    await engine.ask("queue backlog growing on the email queue", asker="@bob:x")
    clock.t += 60
    assert features(engine, "queue backlog growing on the email queue again", asker="@bob:x")["reask"] == 1.0
    assert features(engine, "queue backlog growing on the email queue again", asker="@eve:x")["reask"] == 0.0
    clock.t += 6 * 60
    assert features(engine, "queue backlog growing on the email queue again", asker="@bob:x")["reask"] == 0.0
