"""The ultraprompt spec: loading and overriding, parsing answers, repairing malformed ones, rendering prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hololoom_core.answers.spec import SpecError, default_spec, load_spec
from hololoom_core.answers.ultraprompt import (
    missing_sections,
    parse_answer,
    render_messages,
    render_sections,
)
from hololoom_core.config import ConfigError, load_config
from hololoom_core.models import Source
from hololoom_core.promptly.repair import first_sentences, repair_answer

WELL_FORMED = """### PLAN
1. Match the disk-full runbook.

### ANSWER
The disk on db-01 is full.
1. `df -hT`

### VERIFY
1. `df -h` below 80%.

**TL;DR:** Free space on db-01 by vacuuming the journal.

_footer line_"""


def test_shipped_spec_names_the_four_sections_in_order() -> None:
    spec = default_spec()
    assert [s.name for s in spec.sections] == ["PLAN", "ANSWER", "VERIFY", "TL;DR"]
    assert spec.required_names("generalist") == ["PLAN", "ANSWER", "VERIFY", "TL;DR"]
    tldr = spec.sections[-1]
    assert tldr.inline and tldr.synthesise_from == "ANSWER" and tldr.max_words == 60
    # per-agent additions go before the inline TL;DR
    assert [s.name for s in spec.sections_for("incident-commander")] == ["PLAN", "ANSWER", "VERIFY", "COMMS", "TL;DR"]


def test_override_file_merges_sections_agents_and_options(tmp_path: Path) -> None:
    override = tmp_path / "spec.yaml"
    override.write_text(
        "name: team\n"
        "options: {verification: false, chaining: true}\n"
        "sections:\n"
        "  - name: tldr\n"
        "    max_words: 25\n"
        "  - name: RISKS\n"
        "    must_contain: what could go wrong\n"
        "agents:\n"
        "  dba:\n"
        "    instructions: Think about replication first.\n",
        encoding="utf-8",
    )
    spec = load_spec(override)
    assert spec.name == "team"
    assert spec.options.verification is False and spec.options.chaining is True and spec.options.retries == 1
    assert [s.name for s in spec.sections] == ["PLAN", "ANSWER", "VERIFY", "RISKS", "TL;DR"]
    assert spec.sections[-1].max_words == 25 and spec.sections[-1].inline  # merged, not replaced
    assert "VERIFY" not in spec.required_names()  # verification off: VERIFY no longer required
    assert spec.agent_instructions("dba") == "Think about replication first."
    assert default_spec().options.verification is True  # the shipped spec is untouched


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sections:\n  - name: PLAN\n    colour: red\n", "'sections.0.colour' is not a spec key"),
        ("user_template: 'Q: {{question}} {{nonsense}}'\n", "unknown placeholder(s) {{nonsense}}"),
        ("user_template: 'no question here'\n", "must contain {{question}}"),
        ("sections:\n  - name: PLAN\n    max_words: 0\n", "'sections.0.max_words'"),
        ("sections: [ {name: PLAN\n", "YAML syntax error"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_bad_override_is_one_line_naming_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    override = tmp_path / "bad.yaml"
    override.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(override)
    message = str(caught.value)
    assert "\n" not in message and str(override) in message and fragment in message


def test_bad_spec_in_config_is_a_config_error(tmp_path: Path) -> None:
    override = tmp_path / "bad.yaml"
    override.write_text("options: {retries: 99}\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(f"promptly:\n  spec: {override}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    assert "promptly.spec" in str(caught.value) and "options.retries" in str(caught.value)


def test_parse_reads_heading_styles_aliases_and_footer() -> None:
    text = (
        "Sure, here you go.\n\n## Plan:\n1. look\n\n**ANSWER**\nRestart `web-api`.\n\n"
        "Verification -\n1. curl it\n\n### Summary\nRestart web-api and curl it.\n\n_footer_"
    )
    parsed = parse_answer(text)
    assert parsed.sections == {"PLAN": "1. look", "ANSWER": "Restart `web-api`.", "VERIFY": "1. curl it",
                               "TL;DR": "Restart web-api and curl it."}
    assert parsed.preamble == "Sure, here you go."
    assert parsed.footer == "_footer_"
    assert ("Summary", "TL;DR") in parsed.headings


def test_parse_ignores_words_that_only_look_like_headings() -> None:
    text = "### ANSWER\nPlan your rollback first.\nSummary of findings follows below.\n"
    assert parse_answer(text).sections == {"ANSWER": "Plan your rollback first.\nSummary of findings follows below."}


def test_render_then_parse_round_trips() -> None:
    sections = parse_answer(WELL_FORMED).sections
    assert parse_answer(render_sections(sections, footer="_footer line_")).sections == sections


def test_well_formed_answer_needs_no_repair() -> None:
    result = repair_answer(WELL_FORMED, default_spec())
    assert result.ok and not result.actions and result.text == WELL_FORMED


def test_missing_tldr_is_synthesised_from_answer_and_headings_normalised() -> None:
    text = ("## Approach\n1. Check the runbook.\n\nSolution: The certificate on api.example.com expired. "
            "Renew it with `certbot renew` and reload nginx.\n\n## How to verify\n1. `openssl s_client` shows "
            "the new expiry.")
    result = repair_answer(text, default_spec())
    assert result.ok, result.missing
    assert result.sections["TL;DR"] == "The certificate on api.example.com expired. Renew it with `certbot renew` " \
                                       "and reload nginx."
    assert "TL;DR was missing: synthesised from ANSWER" in result.actions
    assert "heading 'Approach' read as PLAN" in result.actions
    assert "heading 'How to verify' read as VERIFY" in result.actions
    # the repaired text is shown with the spec's canonical headings
    assert parse_answer(result.text).sections == result.sections
    assert "### PLAN" in result.text and "**TL;DR:**" in result.text


def test_unheaded_text_becomes_answer_but_plan_cannot_be_invented() -> None:
    result = repair_answer("Restart the pod with `kubectl rollout restart deploy/web`. Then watch the logs.",
                           default_spec())
    assert result.sections["ANSWER"].startswith("Restart the pod")
    assert result.sections["TL;DR"]  # synthesised
    assert result.missing == ["PLAN", "VERIFY"] and not result.ok


def test_overlong_tldr_is_cut_and_out_of_order_sections_reordered() -> None:
    long_tldr = " ".join(["word"] * 90) + "."
    text = f"**TL;DR:** {long_tldr}\n\n### ANSWER\nDo it.\n\n### PLAN\n1. x\n\n### VERIFY\n1. y"
    result = repair_answer(text, default_spec())
    assert result.ok
    assert len(result.sections["TL;DR"].split()) <= 60
    assert "sections put in the spec's order" in result.actions
    assert result.text.index("### PLAN") < result.text.index("### ANSWER") < result.text.index("**TL;DR:**")


def test_verification_off_makes_verify_optional(tmp_path: Path) -> None:
    spec = default_spec().merged({"options": {"verification": False}})
    text = "### PLAN\n1. a\n\n### ANSWER\nb\n\n**TL;DR:** c"
    assert repair_answer(text, spec).ok
    assert not repair_answer(text, default_spec()).ok
    assert missing_sections({"PLAN": "a", "ANSWER": "b", "TL;DR": "c"}, spec) == []
    assert "VERIFY" not in render_sections({"PLAN": "a", "ANSWER": "b", "TL;DR": "c"}, spec=spec)
    assert "### VERIFY" in render_sections({"PLAN": "a", "ANSWER": "b", "TL;DR": "c"})  # required: shown as missing


def test_agent_sections_are_required_for_that_agent_only() -> None:
    spec = default_spec()
    assert repair_answer(WELL_FORMED, spec, "incident-commander").missing == ["COMMS"]
    with_comms = WELL_FORMED.replace("**TL;DR:**", "### Status update\nWe are mitigating.\n\n**TL;DR:**")
    result = repair_answer(with_comms, spec, "incident-commander")
    assert result.ok and result.sections["COMMS"] == "We are mitigating."


def test_first_sentences_respects_the_word_limit() -> None:
    assert first_sentences("One two. Three four five. Six.", 5) == "One two. Three four five."
    assert first_sentences("1. `df -h` first\n2. then more", 3) == "`df -h` first…"


def test_render_messages_carries_sources_sections_and_agent_instructions() -> None:
    sources = [
        Source("runbook", "disk-full", "Disk full", "A filesystem is at 100%.", 0.8),
        Source("message", "$ev1", "message 7", "db-01 filled up last week too", 0.5, ts=1_764_072_000.0,
               room_id="#ops", author="alice"),
    ]
    messages = render_messages(default_spec(), question="disk full on db-01?", sources=sources,
                               agent="incident-commander", agent_brief="runs incidents", instructions="Be brief.")
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert "incident-commander agent (runs incidents)" in system
    assert "Question: disk full on db-01?" in user
    assert "[S1] (runbook, `disk-full`; match 0.80) Disk full: A filesystem is at 100%." in user
    assert "[S2] (message, message 7, 2025-11-25 12:00 UTC, #ops, alice; match 0.50)" in user
    assert "- ### COMMS" in user and user.index("### VERIFY") < user.index("### COMMS") < user.index("**TL;DR:**")
    assert "Think like an incident commander" in user and "Be brief." in user
    assert "{{" not in user


def test_render_messages_without_sources_says_not_to_guess() -> None:
    spec = default_spec().merged({"options": {"verification": False}})
    user = render_messages(spec, question="what now?", sources=[], agent="generalist")[1]["content"]
    assert "(none: no runbook or earlier message matched; say so and do not guess)" in user
    assert "### VERIFY" not in user
