"""Experiments: Thompson sampling, probability-to-be-best, promotion rules, rewards from judge and people,
re-asks, persistence, and the `!experiment` command and `hololoom experiments` CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hololoom_core.cli.main import main as cli_main
from hololoom_core.clock import SteppingClock
from hololoom_core.config import Config, ConfigError, load_config
from hololoom_core.engine import Engine
from hololoom_core.events import ExperimentChanged
from hololoom_core.promptly.bandit import (
    Arm,
    combine_reward,
    probability_best,
    promotion_candidate,
    summarise,
    thompson_choose,
)
from hololoom_core.promptly.experiments import ExperimentService
from hololoom_core.transport.local import LocalRoom

# -- the bandit ------------------------------------------------------------------------------------


def simulate(true_means: list[float], answers: int, seed: int) -> list[int]:
    """Pulls per arm after Thompson sampling `answers` Bernoulli rewards."""
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(seed + 1000)
    pulls = [0] * len(true_means)
    rewards = [0.0] * len(true_means)
    for _ in range(answers):
        arms = [Arm(str(i), pulls[i], rewards[i]) for i in range(len(true_means))]
        chosen = thompson_choose(arms, rng)
        pulls[chosen] += 1
        rewards[chosen] += float(world.random() < true_means[chosen])
    return pulls


def test_thompson_sampling_converges_to_the_better_variant() -> None:
    wins = 0
    for seed in range(20):
        pulls = simulate([0.6, 0.7, 0.5], answers=600, seed=seed)
        wins += pulls[1] == max(pulls)
        assert sum(pulls) == 600
    assert wins >= 18  # the 10-points-better arm gets the most answers in (almost) every seeded run


def test_thompson_sampling_explores_when_variants_are_equal() -> None:
    pulls = simulate([0.6, 0.6], answers=400, seed=7)
    assert min(pulls) >= 40  # no premature lock-in on a coin flip


def test_probability_best_matches_evidence() -> None:
    rng = np.random.default_rng(1)
    strong = [Arm("a", 200, 120.0), Arm("b", 200, 150.0)]  # 0.60 vs 0.75 on 200 answers each
    probabilities = probability_best(strong, 20_000, rng)
    assert probabilities[1] > 0.999 and sum(probabilities) == pytest.approx(1.0)
    even = probability_best([Arm("a", 50, 25.0), Arm("b", 50, 25.0)], 20_000, rng)
    assert even[0] == pytest.approx(0.5, abs=0.02)


def test_summary_has_posterior_mean_and_credible_interval() -> None:
    summary = summarise([Arm("a", 98, 49.0)], 20_000, np.random.default_rng(2))[0]
    assert summary.posterior_mean == pytest.approx(0.5)
    assert summary.low == pytest.approx(0.402, abs=0.01) and summary.high == pytest.approx(0.598, abs=0.01)
    assert summary.probability_best == 1.0 and summary.mean_reward == 0.5


def test_promotion_needs_the_threshold_and_the_minimum_samples() -> None:
    arms = [Arm("a", 30, 15.0), Arm("b", 30, 25.0)]
    assert promotion_candidate(arms, [0.03, 0.97], threshold=0.95, min_samples=20) == 1
    assert promotion_candidate(arms, [0.06, 0.94], threshold=0.95, min_samples=20) is None  # below threshold
    assert promotion_candidate(arms, [0.03, 0.97], threshold=0.95, min_samples=31) is None  # winner too small
    starved = [Arm("a", 4, 1.0), Arm("b", 60, 50.0)]  # Thompson sampling starved the loser
    assert promotion_candidate(starved, [0.0, 1.0], threshold=0.95, min_samples=20, min_samples_each=4) == 1
    assert promotion_candidate(starved, [0.0, 1.0], threshold=0.95, min_samples=20, min_samples_each=5) is None
    untried = [Arm("a", 0, 0.0), Arm("b", 60, 59.0)]
    assert promotion_candidate(untried, [0.02, 0.98], threshold=0.95, min_samples=20) is None


def test_reward_combines_the_signals_that_happened() -> None:
    assert combine_reward(0.8, None, False, 0.6, 0.3, 0.1) == pytest.approx(0.8)
    assert combine_reward(0.8, 1.0, False, 0.6, 0.3, 0.1) == pytest.approx((0.6 * 0.8 + 0.3) / 0.9)
    assert combine_reward(0.8, 0.0, True, 0.6, 0.3, 0.1) == pytest.approx(0.48)
    assert combine_reward(0.8, None, True, 0.0, 0.0, 1.0) == 0.0
    assert combine_reward(1.7, None, False, 1, 0, 0) == 1.0


# -- the service on a real engine ------------------------------------------------------------------


def make_engine(tmp_path: Path, **experiments: Any) -> Engine:
    config = Config.model_validate({"hololoom": {"data_dir": str(tmp_path)},
                                    "promptly": {"experiments": {"seed": 3, **experiments}}})
    return Engine(config, clock=SteppingClock())


async def say(engine: Engine, text: str, sender: str = "alice") -> str:
    result = await LocalRoom(engine).post(sender, text)
    return result.replies[0].body if result.replies else ""


async def test_experiment_command_starts_assigns_records_and_stops(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    events: list[ExperimentChanged] = []
    engine.bus.subscribe(lambda e: events.append(e) if isinstance(e, ExperimentChanged) else None)
    listing = await say(engine, "!experiment list")
    assert "| context-depth | not started | 0 |" in listing
    started = await say(engine, "!experiment start context-depth")
    assert started.startswith("Started experiment `context-depth`") and "| lean | 0 |" in started
    assert "already running" in await say(engine, "!experiment start context-depth")
    assert "stop it first" in await say(engine, "!experiment start refine-loop")
    assert "no experiment named 'nope'" in (await say(engine, "!experiment start nope")).lower()

    configurations = []
    for number in range(6):
        result = await LocalRoom(engine).post("bob", f"@hololoom disk full on db-{number:02d} host {number} ENOSPC?")
        answer = result.replies[0].answer
        assert answer is not None
        configurations.append(answer.configuration)
    assert set(configurations) <= {"context-depth/lean", "context-depth/rich"}
    rows = engine.store.query("SELECT variant, judge_score, reward, interaction_id FROM experiment_assignments")
    assert len(rows) == 6 and all(0 < r["judge_score"] <= 1 for r in rows)
    assert all(r["reward"] == pytest.approx(r["judge_score"]) for r in rows)  # judge only, until people react
    stored = engine.interactions.get(rows[0]["interaction_id"])
    assert stored is not None and stored.configuration == f"context-depth/{rows[0]['variant']}"

    shown = await say(engine, "!experiment show")
    assert "**Experiment `context-depth`** — running, 6 answer(s)" in shown and "P(best)" in shown
    stopped = await say(engine, "!experiment stop")
    assert stopped.startswith("Stopped experiment `context-depth`")
    answer = await engine.ask("disk full on db-99", asker="carol")
    assert answer.configuration == "default"
    assert [e.status for e in events][:1] == ["running"] and events[-1].status == "stopped"
    await engine.close()


async def test_lean_retrieval_variant_really_retrieves_less(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    service: ExperimentService = engine.capability(ExperimentService)
    service.start("context-depth")
    for number in range(30):
        await engine.ask(f"disk full and certificate expiry on host-{number}", asker=f"user{number}")
    rows = engine.store.query("SELECT a.variant, i.sources FROM experiment_assignments a "
                              "JOIN interactions i ON i.id = a.interaction_id")
    runbooks = {row["variant"]: max(sum(1 for s in json.loads(r["sources"]) if s["kind"] == "runbook")
                                    for r in rows if r["variant"] == row["variant"]) for row in rows}
    # the warm-up gives each variant its minimum share; lean never cites more than one runbook, rich at most two
    assert set(runbooks) == {"lean", "rich"}
    assert runbooks["lean"] <= 1 and 1 <= runbooks["rich"] <= 2
    await engine.close()


async def test_reactions_and_reasks_change_the_reward(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, reask_window_minutes=10, reask_similarity=0.6)
    service: ExperimentService = engine.capability(ExperimentService)
    service.start("refine-loop")
    first = await engine.ask("checkout-api returns HTTP 500 after the deploy", asker="dana")
    assert first.interaction_id is not None
    judge = first.quality
    assert engine.record_feedback(first.interaction_id, "erin", +1, "reaction", "👍")
    row = engine.store.query_one("SELECT reaction, reasked, reward FROM experiment_assignments "
                                 "WHERE interaction_id = ?", (first.interaction_id,))
    assert row is not None
    assert row["reaction"] == 1.0 and row["reward"] == pytest.approx((0.6 * judge + 0.3) / 0.9)
    # the same person asks nearly the same thing again: a re-ask of the first answer
    second = await engine.ask("checkout-api still returns HTTP 500 after deploy", asker="dana")
    feedback = engine.store.query("SELECT source, value, ref FROM feedback WHERE interaction_id = ?",
                                  (first.interaction_id,))
    assert {(f["source"], f["value"]) for f in feedback} == {("reaction", 1), ("reask", -1)}
    assert any(f["ref"] == str(second.interaction_id) for f in feedback)
    row = engine.store.query_one("SELECT reasked, reward FROM experiment_assignments WHERE interaction_id = ?",
                                 (first.interaction_id,))
    assert row is not None
    assert row["reasked"] == 1 and row["reward"] == pytest.approx((0.6 * judge + 0.3) / 1.0)
    # another person, or an unrelated question, is not a re-ask
    await engine.ask("checkout-api returns HTTP 500 after the deploy", asker="frank")
    await engine.ask("how do I rotate the TLS certificate on the ingress", asker="dana")
    assert engine.store.scalar("SELECT count(*) FROM feedback WHERE source = 'reask'") == 1
    await engine.close()


async def test_better_variant_is_promoted_then_used_and_it_all_survives_a_restart(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, min_samples=8, min_samples_each=3, promote_probability=0.9)
    service: ExperimentService = engine.capability(ExperimentService)
    service.start("context-depth")
    promoted_at = None
    for number in range(120):
        answer = await engine.ask(f"disk full on db-{number}, no space left on device", asker=f"u{number}")
        assert answer.interaction_id is not None
        variant = answer.configuration.split("/")[1]
        # people like the rich variant's answers and dislike the lean ones
        engine.record_feedback(answer.interaction_id, "rater", +1 if variant == "rich" else -1, "reaction", "x")
        active = service.active()
        assert active is not None
        if active["status"] == "promoted":
            promoted_at = number + 1
            break
    assert promoted_at is not None, "no promotion after 120 answers"
    report = service.report_by_name("context-depth")
    assert report is not None and report.status == "promoted" and report.winner == "rich"
    rich = next(v for v in report.variants if v.name == "rich")
    assert rich.pulls >= 8 and min(v.pulls for v in report.variants) >= 3
    assert rich.posterior_mean > next(v for v in report.variants if v.name == "lean").posterior_mean
    assert [e["kind"] for e in report.events] == ["started", "promoted"]
    assert report.events[1]["winner"] == "rich" and report.events[1]["probability_best"] >= 0.9
    after = await engine.ask("disk full on db-x", asker="someone")
    assert after.configuration == "context-depth/rich"
    assigned = engine.store.scalar("SELECT count(*) FROM experiment_assignments")
    await engine.close()

    reopened = make_engine(tmp_path, min_samples=8, min_samples_each=3, promote_probability=0.9)
    again = reopened.capability(ExperimentService).report_by_name("context-depth")
    assert again is not None
    assert again.status == "promoted" and again.winner == "rich" and again.pulls == assigned
    assert (await reopened.ask("disk full on db-y", asker="other")).configuration == "context-depth/rich"
    await reopened.close()


async def test_stopped_run_resumes_with_its_evidence(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    service: ExperimentService = engine.capability(ExperimentService)
    service.start("verification")
    for number in range(3):
        await engine.ask(f"latency spike on api-{number}", asker=f"p{number}")
    service.stop()
    resumed = service.start("verification")
    assert resumed.pulls == 3 and [e["kind"] for e in resumed.events] == ["started", "stopped", "resumed"]
    await engine.close()


def test_experiment_definitions_in_config_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "promptly:\n  experiments:\n    definitions:\n      solo:\n        variants:\n"
        "          only: {temperature: 0.1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least two variants"):
        load_config(path, environ={})
    path.write_text(
        "promptly:\n  experiments:\n    definitions:\n      temp:\n        variants:\n"
        "          cold: {temperature: 0.1}\n          hot: {loop: 'generate -> polish'}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="column 13: expected judge, refine or verify|column 13: expected"):
        load_config(path, environ={})


def test_cli_experiments_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--data-dir", str(tmp_path), "say", "!experiment start verification"]) == 0
    assert cli_main(["--data-dir", str(tmp_path), "ask", "disk full on db-01"]) == 0
    capsys.readouterr()
    assert cli_main(["--data-dir", str(tmp_path), "experiments", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["active"] == "verification" and set(data["definitions"]) >= {"context-depth", "refine-loop"}
    run = data["runs"][0]
    assert run["name"] == "verification" and run["pulls"] == 1
    variant = run["variants"][0]
    assert set(variant) >= {"pulls", "posterior_mean", "credible_interval", "probability_best"}
    assert cli_main(["--data-dir", str(tmp_path), "experiments", "verification"]) == 0
    assert "**Experiment `verification`** — running, 1 answer(s)" in capsys.readouterr().out
    assert cli_main(["--data-dir", str(tmp_path), "experiments", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'nope' is not defined" in err
