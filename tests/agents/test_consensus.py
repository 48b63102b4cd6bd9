"""Consensus: agreed, single and conflicting actions, and the agreement score."""

from __future__ import annotations

from hololoom_core.agents.consensus import Contribution, compare


def contribution(agent: str, steps: list[str]) -> Contribution:
    answer = "Intro.\n\n" + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, start=1))
    return Contribution(agent, agent, {"ANSWER": answer}, 0.8, {}, [], "offline", answer)


def test_similar_actions_agree_different_ones_stay_single_and_opposites_conflict() -> None:
    incident = contribution("incident", [
        "Roll back the checkout deploy to the previous release now",
        "Check the error rate on the checkout dashboard",
        "Page the database on-call engineer",
    ])
    deployment = contribution("deployment", [
        "Roll forward with the fixed checkout release instead",
        "Check the error rate of checkout on the dashboard after the change",
        "Freeze the release train for today",
    ])
    consensus = compare([incident, deployment], threshold=0.45)
    assert len(consensus.agreed) == 1 and set(consensus.agreed[0]["agents"]) == {"incident", "deployment"}
    assert "error rate" in consensus.agreed[0]["action"]
    assert len(consensus.conflicts) == 1 and consensus.conflicts[0]["agents"] == ["incident", "deployment"]
    assert {item["agent"] for item in consensus.single} == {"incident", "deployment"}
    assert 0.0 <= consensus.agreement <= 1.0
    assert consensus.agreement == 2 / (6 + 1)


def test_identical_answers_agree_fully_and_disjoint_ones_not_at_all() -> None:
    steps = ["Revoke the leaked key in the provider console", "Rotate the secret in the vault and restart"]
    assert compare([contribution("security", steps), contribution("incident", steps)]).agreement == 1.0
    other = ["Write the status page update for customers", "Scale out the api deployment to ten replicas"]
    assert compare([contribution("security", steps), contribution("incident", other)]).agreement == 0.0
