"""The loop language (grammar errors with positions) and the loop runner on the offline engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hololoom_core.answers.loop_dsl import LoopSyntaxError, parse_loop
from hololoom_core.answers.types import Configuration
from hololoom_core.cli.main import main as cli_main
from hololoom_core.clock import SteppingClock
from hololoom_core.config import Config, ConfigError, load_config
from hololoom_core.engine import Engine
from hololoom_core.models import Source
from hololoom_core.promptly.revise import add_caution, tighten, unsupported_commands
from hololoom_core.transport.local import LocalRoom


def make_engine(tmp_path: Path, **promptly: object) -> Engine:
    config = Config.model_validate({"hololoom": {"data_dir": str(tmp_path)}, "promptly": promptly})
    return Engine(config, clock=SteppingClock())


# -- the language ----------------------------------------------------------------------------------


def test_loop_parses_into_steps_with_conditions() -> None:
    program = parse_loop("generate -> judge -> refine until quality >= 0.8 and grounded > 0.5 max 3 -> verify")
    assert [s.kind for s in program.steps] == ["generate", "judge", "refine", "verify"]
    refine = program.steps[2]
    assert refine.until is not None
    assert refine.max_rounds == 3 and str(refine.until) == "quality >= 0.8 and grounded > 0.5"
    assert refine.until.holds({"quality": 0.85, "grounded": 0.6})
    assert not refine.until.holds({"quality": 0.85, "grounded": 0.5})
    assert not refine.until.holds({"grounded": 0.9})  # a missing score never satisfies


def test_loop_defaults_and_unicode_arrow() -> None:
    assert str(parse_loop("GENERATE → Refine")) == "generate -> refine max 1"
    assert str(parse_loop("generate -> refine until quality >= .9")) == "generate -> refine until quality >= 0.9 max 3"


@pytest.mark.parametrize(
    ("text", "column", "expected", "found"),
    [
        ("", 1, "a step (generate, judge, refine or verify)", "the end of the loop"),
        ("generate ->", 12, "a step (generate, judge, refine or verify)", "the end of the loop"),
        ("generate -> refin", 13, "a step (generate, judge, refine or verify)", "'refin'"),
        ("generate -> refine max x", 24, "a whole number after 'max'", "'x'"),
        ("generate -> refine max 2.5", 24, "a whole number after 'max'", "'2.5'"),
        ("generate -> refine max 11", 24, "a number of rounds from 1 to 10", "'11'"),
        ("generate -> refine until quality 0.8", 34, "a comparison operator (>=, >, <=, <) after 'quality'", "'0.8'"),
        ("generate -> refine until qualty >= 0.8", 26, "a metric (quality, structure, grounded, actionable, "
                                                       "concise, safe)", "'qualty'"),
        ("generate -> refine until quality >= high", 37, "a number between 0 and 1 after 'quality >='", "'high'"),
        ("generate -> refine until quality >= 80", 37, "a threshold between 0 and 1", "'80'"),
        ("generate -> refine max 2 3", 26, "'->' or the end of the loop", "'3'"),
        ("generate judge", 10, "'->' or the end of the loop", "'judge'"),
        ("generate; judge", 9, "a step, '->', a comparison or a number", "';'"),
        ("judge -> generate", 1, "'generate' as the first step", "'judge'"),
        ("generate -> judge -> generate", 22, "judge, refine or verify", "a second 'generate'"),
    ],
)
def test_grammar_errors_name_column_expected_and_found(text: str, column: int, expected: str, found: str) -> None:
    with pytest.raises(LoopSyntaxError) as caught:
        parse_loop(text)
    error = caught.value
    assert (error.column, error.expected, error.found) == (column, expected, found)
    assert "\n" not in str(error) and f"column {column}: expected {expected}, found {found}" in str(error)
    assert error.pointer().splitlines()[1] == " " * (column - 1) + "^"


def test_near_misses_get_a_suggestion() -> None:
    with pytest.raises(LoopSyntaxError, match="did you mean 'refine'"):
        parse_loop("generate -> refin")
    with pytest.raises(LoopSyntaxError, match="did you mean 'until'"):
        parse_loop("generate -> refine untill quality >= 0.8")


def test_bad_loop_in_config_is_one_line_with_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("promptly:\n  agent_loops:\n    generalist: generate -> refine max 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "\n" not in message and f"{path}:" in message and "promptly.agent_loops" in message
    assert "column 24: expected a number of rounds from 1 to 10, found '0'" in message


def test_threshold_knob_rewrites_refine_conditions() -> None:
    program = parse_loop("generate -> refine until quality >= 0.8 and safe >= 1 max 2").with_threshold(0.9)
    refine = program.steps[1]
    assert str(refine.until) == "quality >= 0.9 and safe >= 1" and refine.max_rounds == 2
    assert parse_loop("generate -> refine").with_threshold(0.7).steps[1].max_rounds == 3


# -- the runner on the offline engine ---------------------------------------------------------------


async def test_every_step_is_recorded_on_the_interaction(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    answer = await engine.ask("disk full on db-01, no space left on device", asker="cli")
    kinds = [step["step"] for step in answer.loop_steps]
    assert kinds == ["predict", "loop", "generate", "judge", "refine", "verify"]  # the forecast comes first
    assert answer.loop_steps[1]["program"] == "generate -> judge -> refine until quality >= 0.8 max 2 -> verify"
    judge_step = answer.loop_steps[3]
    assert judge_step["score"] == round(answer.quality, 4)
    assert set(judge_step["criteria"]) == {"structure", "grounded", "actionable", "concise", "safe"}
    verify = answer.loop_steps[5]
    assert verify["commands_checked"] > 5 and verify["unsupported_commands"] == []  # all from the runbook
    stored = engine.interactions.get(answer.interaction_id or 0)
    assert stored is not None and stored.loop_steps == answer.loop_steps
    assert set(stored.scores["criteria"]) == set(judge_step["criteria"])
    await engine.close()


async def test_refine_with_nothing_to_add_is_recorded_as_skipped_with_the_reason(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    answer = await engine.ask("what is the meaning of life", asker="cli")
    refine = next(step for step in answer.loop_steps if step["step"] == "refine")
    assert refine["status"] == "skipped"
    assert refine["reason"].startswith("offline engine: grounded: a wider retrieval found no new sources")
    assert "more context was already tried" in refine["reason"]
    await engine.close()


async def test_refine_retrieves_more_context_and_keeps_the_better_answer(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    room = LocalRoom(engine)
    for text in ("db-01 disk full again, no space left on device from WAL growth",
                 "disk full on db-01 last week: a stale replication slot kept WAL",
                 "we fixed db-01 disk full by dropping the inactive replication slot"):
        await room.post("alice", text)
    engine.answer_path.choose_configuration = lambda context: Configuration(
        "lean", {"max_sources": 0, "max_runbooks": 1,
                 "loop": "generate -> judge -> refine until quality >= 0.99 max 2"})
    answer = await engine.ask("db-01 disk full, no space left on device WAL", asker="cli")
    rounds = [s for s in answer.loop_steps if s["step"] == "refine"]
    first = rounds[0]
    assert first["strategy"] == "more-context" and first["kept"] == "refined"
    assert "more source(s) (message" in first["change"]
    assert first["score_after"] > first["score_before"]
    assert first["preference"]["winner"] == "B"
    # the answer now cites the messages the wider retrieval found, and records them as its sources
    assert any(s.kind == "message" for s in answer.sources)
    assert "From earlier conversations" in answer.sections["ANSWER"]
    # a second round has nothing new to try and says so instead of pretending
    assert rounds[1]["status"] in ("skipped", "done")
    await engine.close()


async def test_variant_can_turn_verification_off_and_pick_the_loop(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    engine.answer_path.choose_configuration = lambda context: Configuration(
        "x/verify-off", {"loop": "generate -> verify", "spec": {"options": {"verification": False}}})
    answer = await engine.ask("disk full on db-01", asker="cli")
    assert answer.configuration == "x/verify-off"
    assert answer.loop_steps[3] == {"step": "verify", "status": "skipped", "reason": "verification is off in the spec"}
    assert answer.loop_steps[-1]["step"] == "judge" and answer.loop_steps[-1]["auto"]  # judged even without a judge step
    await engine.close()


async def test_agent_loop_and_judge_threshold(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, agent_loops={"generalist": "generate -> judge -> refine until quality >= 0.5"})
    answer = await engine.ask("disk full on db-01", asker="cli")
    assert answer.loop_steps[1]["program"] == "generate -> judge -> refine until quality >= 0.5 max 3"
    engine.answer_path.choose_configuration = lambda context: Configuration("t", {"judge_threshold": 0.95})
    answer = await engine.ask("disk full on db-02", asker="cli")
    assert "refine until quality >= 0.95 max 3" in answer.loop_steps[1]["program"]
    await engine.close()


def test_ask_json_has_judge_criteria_and_loop_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli_main(["--data-dir", str(tmp_path), "ask", "checkout-api returns HTTP 500 after deploy", "--json"])
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["judge"]["criteria"]) == {"structure", "grounded", "actionable", "concise", "safe"}
    for item in data["judge"]["criteria"].values():
        assert 0.0 <= item["score"] <= 1.0 and item["reason"]
    assert [s["step"] for s in data["loop_steps"]][:4] == ["predict", "loop", "generate", "judge"]
    assert data["sections"]["TL;DR"] and data["provider"] == "offline"


# -- deterministic revisions -----------------------------------------------------------------------


def test_tighten_cuts_long_lists_and_says_how_much() -> None:
    steps = "\n".join(f"{n}. step number {n} with a few extra words here" for n in range(1, 11))
    sections = {"PLAN": "1. a", "ANSWER": steps + "\n\nClosing line.", "VERIFY": "1. b", "TL;DR": "c"}
    revision = tighten(sections, word_budget=60)
    assert revision.change.startswith("lists cut to")
    kept = [line for line in revision.sections["ANSWER"].splitlines() if line[:1].isdigit()]
    assert 2 <= len(kept) <= 5 and "more step(s) in the sources" in revision.sections["ANSWER"]
    assert "Closing line." in revision.sections["ANSWER"]
    assert tighten(sections, word_budget=10_000).change == ""


def test_caution_is_added_once_for_destructive_commands() -> None:
    sections = {"ANSWER": "Run `DROP DATABASE old;` to free space."}
    revised = add_caution(sections)
    assert "DROP DATABASE" in revised.change and "**Caution:**" in revised.sections["ANSWER"]
    assert add_caution(revised.sections).change == ""
    assert add_caution({"ANSWER": "Run `df -h`."}).change == ""


def test_unsupported_commands_are_those_in_no_source() -> None:
    sources = [Source("message", "$x", "message 1", "we ran `systemctl restart nginx` and it worked", 0.5)]
    sections = {"ANSWER": "1. `systemctl restart nginx`\n2. `rm -rf /var/cache/nginx`\n3. `!runbook http-5xx`\n"
                          "4. replace `<svc>`", "VERIFY": "1. `curl -sf https://shop/health`"}
    checked, unsupported = unsupported_commands(sections, "nginx 502", sources, None)
    assert checked == 5
    assert unsupported == ["rm -rf /var/cache/nginx", "curl -sf https://shop/health"]
