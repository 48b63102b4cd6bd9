"""The router: calibrated probabilities for all five agents, reasons, signals, fallback, collaboration, cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from hololoom_core.agents.model import ModelCache, RouterModel
from hololoom_core.agents.roster import AGENT_IDS, load_roster, load_utterances
from hololoom_core.agents.router import AgentRouter
from hololoom_core.agents.signals import find_signals
from hololoom_core.config.agents import AgentsConfig


@pytest.fixture(scope="module")
def router() -> AgentRouter:
    return AgentRouter(load_roster(), AgentsConfig(), ModelCache(None))


def test_labelled_set_has_80_questions_per_agent_and_a_fixed_held_out_split() -> None:
    labelled = load_utterances()
    for agent in AGENT_IDS:
        train = [t for t, a in labelled.train if a == agent]
        held_out = [t for t, a in labelled.held_out if a == agent]
        assert len(train) + len(held_out) >= 80
        assert abs(len(held_out) / (len(train) + len(held_out)) - 0.25) < 0.02
        assert not set(train) & set(held_out)
    assert load_utterances().digest == labelled.digest


def test_every_decision_carries_all_five_probabilities_a_runner_up_and_a_reason(router: AgentRouter) -> None:
    decision = router.decide("how do i roll back the last deploy of checkout-api")
    assert decision.agent == "deployment" and decision.decided_by == "router"
    assert set(decision.scores) == set(AGENT_IDS) and abs(sum(decision.scores.values()) - 1) < 1e-6
    assert decision.runner_up in AGENT_IDS and decision.runner_up != decision.agent
    assert decision.margin == pytest.approx(decision.scores["deployment"] - decision.scores[decision.runner_up])
    assert "'deploy" in decision.reason or "roll" in decision.reason
    assert "\n" not in decision.reason and "runner-up" in decision.reason


@pytest.mark.parametrize("question, agent, label", [
    ("is CVE-2023-44487 a problem for us", "security", "CVE id"),
    ("diff --git a/app.py b/app.py\n@@ -1,2 +1,2 @@\n-x = 1\n+x = 2", "code_review", "diff"),
    ("INC-4821 is still open, what next", "incident", "INC id"),
])
def test_cheap_signals_point_at_their_agent_and_show_in_the_reason(router: AgentRouter, question: str, agent: str,
                                                                   label: str) -> None:
    decision = router.decide(question)
    assert decision.agent == agent
    assert f"{label} → {agent}" in decision.reason


def test_a_key_pattern_is_a_signal_but_never_echoed(router: AgentRouter) -> None:
    key = "AKIA" + "Q" * 16
    assert [s.label for s in find_signals(f"found {key} in the repo")] == ["key pattern"]
    decision = router.decide(f"found {key} in the repo, what now")
    assert decision.agent == "security" and key not in decision.reason and key.lower() not in decision.reason


def test_low_confidence_falls_back_to_general_never_an_unknown_agent() -> None:
    strict = AgentRouter(load_roster(), AgentsConfig(min_confidence=0.999, collaboration=False), ModelCache(None))
    decision = strict.decide("the thing is weird again")
    assert decision.agent == "general" and "low confidence" in decision.reason
    only = strict.decide("checkout-api 500s", available=("incident", "general"))
    assert only.agent in ("incident", "general") and set(only.scores) == {"incident", "general"}


def test_task_type_and_two_strong_specialists_make_a_collaboration(router: AgentRouter) -> None:
    decision = router.decide("we think an attacker breached the admin panel and the site is down")
    assert decision.collaborative and set(decision.agents) == {"incident", "security"}
    assert "security incident" in decision.reason
    router.force_collaboration("what is toil")
    forced = router.decide("what is toil")
    assert forced.collaborative and forced.decided_by == "operator (!collab)" and "general" not in forced.agents
    assert not router.decide("what is toil").collaborative  # forcing applies once


def test_held_out_accuracy_is_measured_and_reasonable(router: AgentRouter) -> None:
    info = router.model().info
    assert info.held_out["n"] == len(load_utterances().held_out)
    assert info.held_out["top1"] >= 0.8  # bench/router_eval.py reports the full figures
    assert 0.05 < info.temperature < 20


def test_the_fitted_model_is_cached_in_the_data_dir_by_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "agents"
    first = AgentRouter(load_roster(), AgentsConfig(), ModelCache(directory))
    model = first.model()
    files = list(directory.glob("router-*.joblib"))
    assert len(files) == 1 and model.info.digest in files[0].name
    ModelCache._memory.clear()  # a new process: only the file is left

    def no_fit(*args: object, **kwargs: object) -> RouterModel:
        raise AssertionError("refitted although the cache file matches")

    monkeypatch.setattr(RouterModel, "fit", no_fit)
    second = AgentRouter(load_roster(), AgentsConfig(), ModelCache(directory))
    assert second.decide("rollback the canary").agent == "deployment"
    files[0].write_bytes(b"not a model")
    ModelCache._memory.clear()
    monkeypatch.undo()
    third = AgentRouter(load_roster(), AgentsConfig(), ModelCache(directory))
    assert third.decide("rollback the canary").agent == "deployment"  # a broken file is fitted again
