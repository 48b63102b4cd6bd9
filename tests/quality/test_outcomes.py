"""Predictions are stored with the interaction, joined to their outcomes, learned from, and survive a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hololoom_core.engine import Engine
from hololoom_core.quality.service import QualityService

from .conftest import MovableClock

GROUNDED = [
    "no space left on device on web-03, disk full",
    "connection pool exhausted on orders-api, timeouts waiting for a connection",
    "TLS certificate for api.example.com expires tomorrow",
    "replication lag on the postgres replica keeps growing",
    "payments-worker keeps getting OOMKilled",
]
UNGROUNDED = [
    "how should we plan the team offsite?",
    "what is a good recipe for sourdough bread?",
    "what does the frobnicator zorb setting do?",
    "which laptop should I buy for video editing?",
]


def row(engine: Engine, interaction_id: int | None) -> dict[str, object]:
    found = engine.store.query_one("SELECT * FROM quality_predictions WHERE interaction_id = ?", (interaction_id,))
    assert found is not None
    return dict(found)


async def test_cold_start_ranks_grounded_questions_above_ungrounded(engine: Engine) -> None:
    service = engine.capability(QualityService)
    assert service.model.describe()["outcomes"] == 0
    answers = {question: await engine.ask(question, asker=f"@{n}:x") for n, question in enumerate(GROUNDED + UNGROUNDED)}
    assert all(answers[q].grounded for q in GROUNDED) and not any(answers[q].grounded for q in UNGROUNDED)
    predicted = {q: answer.details["prediction"]["predicted_quality"] for q, answer in answers.items()}
    assert min(predicted[q] for q in GROUNDED) > max(predicted[q] for q in UNGROUNDED)


async def test_the_forecast_is_stored_with_the_interaction_and_joined_to_the_judged_quality(engine: Engine) -> None:
    answer = await engine.ask(GROUNDED[0], asker="@alice:x")
    stored = engine.interactions.get(answer.interaction_id or 0)
    assert stored is not None
    prediction = stored.details["prediction"]
    assert set(prediction) >= {"predicted_quality", "retry_probability", "difficulty", "recommended_config",
                               "features", "model", "applied"}
    assert prediction["model"]["version"] == 1 and prediction["model"]["outcomes"] == 0
    saved = row(engine, answer.interaction_id)
    assert saved["judged_quality"] == answer.quality
    assert saved["predicted_quality"] == prediction["predicted_quality"] or abs(
        float(saved["predicted_quality"]) - prediction["predicted_quality"]) < 1e-4  # type: ignore[arg-type]
    assert json.loads(str(saved["ran"]))["grounded"] is True


async def test_low_judged_quality_is_bad_at_once(engine: Engine) -> None:
    answer = await engine.ask(UNGROUNDED[0], asker="@alice:x")
    assert answer.quality < 0.8
    saved = row(engine, answer.interaction_id)
    assert saved["bad"] == 1 and saved["labelled_ts"] is not None
    assert engine.capability(QualityService).model.bad_outcomes == 1


async def test_good_answer_is_labelled_good_only_when_the_window_closes(engine: Engine, clock: MovableClock) -> None:
    service = engine.capability(QualityService)
    answer = await engine.ask(GROUNDED[1], asker="@alice:x")
    assert answer.quality >= 0.8 and row(engine, answer.interaction_id)["bad"] is None
    clock.t += 4 * 60
    assert service.label_expired() == 0
    clock.t += 2 * 60
    assert service.label_expired() == 1
    assert row(engine, answer.interaction_id)["bad"] == 0 and service.model.bad_outcomes == 1


async def test_a_reask_within_the_window_makes_the_first_answer_bad(engine: Engine, clock: MovableClock) -> None:
    first = await engine.ask(GROUNDED[2], asker="@bob:x")
    clock.t += 90
    second = await engine.ask(GROUNDED[2] + " - anyone?", asker="@bob:x")
    saved = row(engine, first.interaction_id)
    assert saved["reasked"] == 1 and saved["bad"] == 1
    assert second.details["prediction"]["features"]["reask"] == 1.0  # and the second one knew it was a re-ask


async def test_thumbs_down_within_the_window_is_bad_and_later_it_changes_nothing(
    engine: Engine, clock: MovableClock
) -> None:
    first = await engine.ask(GROUNDED[3], asker="@carol:x")
    engine.record_feedback(first.interaction_id or 0, "@carol:x", -1, "reaction", ref="r1")
    assert row(engine, first.interaction_id)["bad"] == 1
    late = await engine.ask(GROUNDED[4], asker="@dan:x")
    clock.t += 10 * 60
    engine.capability(QualityService).label_expired()
    engine.record_feedback(late.interaction_id or 0, "@dan:x", -1, "reaction", ref="r2")
    saved = row(engine, late.interaction_id)
    assert saved["bad"] == 0 and saved["thumbs_down"] == 1  # noted, but the window had closed


async def test_model_state_survives_a_restart_and_is_rebuilt_when_the_file_is_lost(
    make_engine: Callable[..., Engine], tmp_path: Path, clock: MovableClock
) -> None:
    engine = make_engine()
    await engine.start()
    for question in UNGROUNDED + GROUNDED:
        await engine.ask(question, asker="@a:x")
        clock.t += 30
    clock.t += 600
    service = engine.capability(QualityService)
    service.label_expired()
    learned = service.model.describe()
    probe = service.model.predict(json.loads(str(row(engine, 1)["features"])))
    await engine.close()
    assert (tmp_path / "quality-model.pkl").exists()

    again = make_engine()
    await again.start()
    restored = again.capability(QualityService)
    assert restored.model.describe() == learned
    assert restored.model.predict(json.loads(str(row(again, 1)["features"]))) == probe
    await again.close()

    (tmp_path / "quality-model.pkl").write_bytes(b"not a pickle")
    rebuilt_engine = make_engine()
    await rebuilt_engine.start()
    rebuilt = rebuilt_engine.capability(QualityService)
    assert rebuilt.model.describe()["outcomes"] == learned["outcomes"]
    assert "rebuilt from 9 stored outcome(s)" in rebuilt_engine.status["quality"]["detail"]
    await rebuilt_engine.close()


async def test_recommendation_is_applied_only_when_switched_on(make_engine: Callable[..., Engine]) -> None:
    applying = make_engine(quality={"apply_after_outcomes": 0})
    await applying.start()
    answer = await applying.ask(GROUNDED[0], asker="@a:x")
    prediction = answer.details["prediction"]
    assert prediction["applied"] is True
    loop = next(step for step in answer.loop_steps if step["step"] == "loop")
    assert loop["program"] == prediction["recommended_config"]["loop"]
    await applying.close()


async def test_switched_off_it_predicts_but_does_not_apply(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(quality={"apply_after_outcomes": 0}, features={"predictive_quality": False})
    await engine.start()
    answer = await engine.ask(UNGROUNDED[1], asker="@a:x")
    prediction = answer.details["prediction"]
    assert prediction["applied"] is False and "features.predictive_quality is false" in prediction["reason"]
    assert prediction["recommended_config"]  # still recommended and recorded
    loop = next(step for step in answer.loop_steps if step["step"] == "loop")
    assert loop["program"] == engine.config.promptly.loop
    assert row(engine, answer.interaction_id)["applied"] == 0
    await engine.close()


async def test_hard_questions_get_the_expensive_tier_and_easy_ones_the_cheap(engine: Engine) -> None:
    easy = await engine.ask(GROUNDED[1], asker="@a:x")
    hard = await engine.ask(UNGROUNDED[2], asker="@b:x")
    assert easy.details["prediction"]["model"]["tier"] == "cheap"
    assert hard.details["prediction"]["model"]["tier"] == "expensive"
    assert easy.details["prediction"]["difficulty"] < hard.details["prediction"]["difficulty"]
    assert hard.details["prediction"]["recommended_config"]["loop"].startswith("generate -> judge -> refine")
