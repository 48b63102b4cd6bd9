"""The judges: each rubric criterion on good and bad answers, the model judge's strict verdict and fallbacks,
and swap-order pairwise comparison."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hololoom_core.answers.judge import HeuristicJudge
from hololoom_core.answers.spec import default_spec
from hololoom_core.models import Source
from hololoom_core.promptly.llm_judge import LanguageModelJudge

SOURCES = [
    Source("runbook", "disk-full", "Disk full or filling fast", "A filesystem is at or near 100% usage.", 0.9),
    Source("message", "$a", "message 3", "db-01 disk filled with WAL last month", 0.6),
    Source("message", "$b", "message 4", "we vacuumed the journal on db-01", 0.5),
]
QUESTION = "db-01 says no space left on device, what now?"

GOOD = {
    "PLAN": "1. Use the disk-full runbook [S1].\n2. Check what grew, free space, verify.",
    "ANSWER": (
        "db-01's volume is full, likely WAL or journal growth [S1][S2].\n"
        "1. Find the full filesystem on db-01: `df -hT`\n"
        "2. Find what grew: `sudo du -xh --max-depth=2 /var | sort -rh | head -20`\n"
        "3. Check deleted-but-open files: `sudo lsof +L1`\n"
        "4. Vacuum the journal: `sudo journalctl --vacuum-size=500M` [S3]\n"
        "5. Drop a stale replication slot instead of deleting WAL by hand.\n"
        "6. Expand the volume if the data is legitimate."
    ),
    "VERIFY": "1. `df -h` shows db-01 below 80%.\n2. No new ENOSPC lines in the logs for 30 minutes.",
    "TL;DR": "db-01 is out of disk: find what grew with du, vacuum the journal, never delete WAL by hand.",
}


def criteria(verdict: Any) -> dict[str, float]:
    return {c.name: c.score for c in verdict.criteria}


def test_good_answer_scores_high_on_every_criterion() -> None:
    verdict = HeuristicJudge(spec=default_spec()).judge(QUESTION, GOOD, SOURCES)
    scores = criteria(verdict)
    assert scores["structure"] == 1.0 and scores["safe"] == 1.0 and scores["actionable"] == 1.0
    assert scores["grounded"] >= 0.9 and scores["concise"] >= 0.7
    assert verdict.score >= 0.9 and verdict.judge == "heuristic"
    assert all(c.reason for c in verdict.criteria)


def test_missing_sections_lower_structure_with_the_names_in_the_reason() -> None:
    broken = {"ANSWER": GOOD["ANSWER"]}
    verdict = HeuristicJudge(spec=default_spec()).judge(QUESTION, broken, SOURCES)
    structure = next(c for c in verdict.criteria if c.name == "structure")
    assert structure.score == 0.25 and "PLAN" in structure.reason and "TL;DR" in structure.reason


def test_ungrounded_answer_scores_zero_unless_it_admits_it() -> None:
    judge = HeuristicJudge()
    guessing = {**GOOD, "ANSWER": "It is probably DNS. Restart everything."}
    assert criteria(judge.judge(QUESTION, guessing, []))["grounded"] == 0.0
    honest = {**GOOD, "ANSWER": "I can't ground an answer: no runbook matches this."}
    assert criteria(judge.judge(QUESTION, honest, []))["grounded"] == 0.4


def test_citing_sources_that_were_not_given_is_penalised() -> None:
    judge = HeuristicJudge()
    fine = criteria(judge.judge(QUESTION, GOOD, SOURCES))["grounded"]
    invented = {**GOOD, "ANSWER": GOOD["ANSWER"] + "\nSee also [S9]."}
    verdict = judge.judge(QUESTION, invented, SOURCES)
    grounded = next(c for c in verdict.criteria if c.name == "grounded")
    assert grounded.score <= fine - 0.3 + 1e-9 and "[S9]" in grounded.reason


def test_vague_answer_is_not_actionable() -> None:
    vague = {**GOOD, "ANSWER": "Look into the disk situation and fix it.", "VERIFY": "Check it works."}
    scores = criteria(HeuristicJudge().judge(QUESTION, vague, SOURCES))
    assert scores["actionable"] <= 0.2


def test_answer_that_ignores_the_named_target_is_less_specific() -> None:
    question = "checkout-api on web-03.prod returns 500s"
    generic = {**GOOD, "ANSWER": GOOD["ANSWER"].replace("db-01", "the host")}
    named = {**GOOD, "ANSWER": GOOD["ANSWER"] + "\nApply this to checkout-api on web-03.prod."}
    judge = HeuristicJudge()
    assert criteria(judge.judge(question, named, SOURCES))["actionable"] > \
        criteria(judge.judge(question, generic, SOURCES))["actionable"]


def test_padding_and_thin_answers_are_not_concise() -> None:
    judge = HeuristicJudge()
    padded = {**GOOD, "ANSWER": GOOD["ANSWER"] + "\n" + "More words that add nothing. " * 200}
    thin = {"PLAN": "a", "ANSWER": "b", "VERIFY": "c", "TL;DR": "d"}
    assert criteria(judge.judge(QUESTION, padded, SOURCES))["concise"] < 0.3
    assert criteria(judge.judge(QUESTION, thin, SOURCES))["concise"] < 0.1


@pytest.mark.parametrize("command", ["rm -rf / ", "DROP DATABASE orders;", "kubectl delete namespace prod",
                                     "dd if=/dev/zero of=/dev/sda"])
def test_destructive_commands_are_unsafe_and_a_caution_helps(command: str) -> None:
    judge = HeuristicJudge()
    reckless = {**GOOD, "ANSWER": GOOD["ANSWER"] + f"\n7. Run `{command}`"}
    assert criteria(judge.judge(QUESTION, reckless, SOURCES))["safe"] == 0.0
    careful = {**reckless, "ANSWER": reckless["ANSWER"] + "\nTake a snapshot first; this is irreversible."}
    assert criteria(judge.judge(QUESTION, careful, SOURCES))["safe"] == 0.5


def test_overall_score_is_the_weighted_mean() -> None:
    verdict = HeuristicJudge().judge(QUESTION, GOOD, SOURCES)
    total = sum(c.weight for c in verdict.criteria)
    assert verdict.score == pytest.approx(sum(c.score * c.weight for c in verdict.criteria) / total, abs=1e-4)


# -- the language-model judge -------------------------------------------------------------------------


def model_verdict(score: float = 0.8) -> str:
    return json.dumps({name: {"score": score, "reason": f"{name} is fine"}
                       for name in ("structure", "grounded", "actionable", "concise", "safe")})


class ScriptedChat:
    """A chat function returning queued replies and recording what it was asked."""

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        self.calls.append({"messages": messages, **kwargs})
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


async def test_model_verdict_is_validated_and_weighted() -> None:
    chat = ScriptedChat(model_verdict(0.8))
    judge = LanguageModelJudge(chat, model="judge-model", fallback=HeuristicJudge())
    outcome = await judge.evaluate(QUESTION, GOOD, SOURCES)
    assert outcome.fallback is None and outcome.attempts == 1
    assert outcome.verdict.judge == "llm:judge-model" and outcome.verdict.score == pytest.approx(0.8)
    assert {c.name: c.reason for c in outcome.verdict.criteria}["safe"] == "safe is fine"
    call = chat.calls[0]
    assert call["model"] == "judge-model" and call["temperature"] == 0.0
    assert call["format"]["required"] == ["structure", "grounded", "actionable", "concise", "safe"]
    assert "[S1] runbook Disk full or filling fast" in call["messages"][1]["content"]


@pytest.mark.parametrize("malformed", [
    "not json at all",
    json.dumps({"structure": {"score": 1.4, "reason": "too high"}}),
    json.dumps({**json.loads(model_verdict()), "bonus": {"score": 1, "reason": "extra key"}}),
])
async def test_malformed_verdict_is_retried_once_with_the_error(malformed: str) -> None:
    chat = ScriptedChat(malformed, model_verdict(0.7))
    outcome = await LanguageModelJudge(chat, model="m", fallback=HeuristicJudge()).evaluate(QUESTION, GOOD, SOURCES)
    assert outcome.attempts == 2 and outcome.fallback is None and outcome.verdict.score == pytest.approx(0.7)
    retry_note = chat.calls[1]["messages"][-1]["content"]
    assert retry_note.startswith("Your previous reply was not valid (")


async def test_two_malformed_verdicts_fall_back_to_the_heuristic_judge_and_say_why() -> None:
    chat = ScriptedChat("{}", "[1, 2]")
    outcome = await LanguageModelJudge(chat, model="m", fallback=HeuristicJudge()).evaluate(QUESTION, GOOD, SOURCES)
    assert outcome.verdict.judge == "heuristic" and outcome.attempts == 2
    assert outcome.fallback is not None and outcome.fallback.startswith("malformed verdict twice")
    step = outcome.as_step()
    assert step["fallback"] == outcome.fallback and step["attempts"] == 2 and set(step["criteria"]) == {
        "structure", "grounded", "actionable", "concise", "safe"}


async def test_unreachable_judge_model_falls_back_at_once() -> None:
    chat = ScriptedChat(ConnectionError("refused"))
    outcome = await LanguageModelJudge(chat, model="m", fallback=HeuristicJudge()).evaluate(QUESTION, GOOD, SOURCES)
    assert outcome.verdict.judge == "heuristic" and "refused" in (outcome.fallback or "") and len(chat.calls) == 1


def prefer(winner: str) -> str:
    return json.dumps({"winner": winner, "reason": f"{winner} is clearer"})


async def test_pairwise_win_needs_both_orders_to_agree() -> None:
    better = {**GOOD, "TL;DR": "the better one"}
    # a consistent model picks the same answer in both orders: "B" first (better is second), then "A" (better first)
    chat = ScriptedChat(prefer("B"), prefer("A"))
    result = await LanguageModelJudge(chat, model="m", fallback=HeuristicJudge()).compare(
        QUESTION, GOOD, better, SOURCES)
    assert result.winner == "B" and result.votes == ["B", "B"]
    first_call, second_call = (c["messages"][1]["content"] for c in chat.calls)
    assert first_call.index("the better one") > first_call.index("=== Answer B ===")
    assert second_call.index("the better one") < second_call.index("=== Answer B ===")  # swapped


async def test_position_bias_cancels_to_a_tie() -> None:
    chat = ScriptedChat(prefer("A"), prefer("A"))  # always prefers whatever is shown first
    result = await LanguageModelJudge(chat, model="m", fallback=HeuristicJudge()).compare(
        QUESTION, GOOD, {**GOOD, "TL;DR": "other"}, SOURCES)
    assert result.winner == "tie" and result.votes == ["A", "B"] and "disagree" in result.reason


async def test_pairwise_falls_back_to_rubric_scores_when_the_model_fails() -> None:
    chat = ScriptedChat("nope", "still nope", prefer("A"))
    worse = {"ANSWER": "just do it"}
    result = await LanguageModelJudge(chat, model="m", fallback=HeuristicJudge()).compare(
        QUESTION, worse, GOOD, SOURCES)
    assert result.winner == "B" and result.judge == "heuristic" and "heuristic comparison used" in result.reason
