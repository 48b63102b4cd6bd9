"""Runbooks and aliases from installed packages: Markdown and YAML runbooks answer questions at once, leave on removal."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hololoom_core.doctor import check_runbooks
from hololoom_core.engine import Engine
from hololoom_core.llm.runbooks import RunbookError, load_markdown_runbook
from hololoom_core.marketplace.publish import publish
from hololoom_core.quality.service import QualityService
from tests.marketplace.support import make_config, make_key, package_folder, trusted, workflow_text
from tests.marketplace.test_chat import say

SHIPPED_WAR_ROOM = Path(__file__).parents[2] / (
    "hololoom_core/marketplace/default_sources/incident-war-room/1.1.0/runbooks/war-room-roles.md")

KAFKA_RUNBOOK_MD = """# Kafka consumer lag

Consumers fall behind the partitions they read; messages wait longer and longer.
Keywords: consumer lag, kafka lag, burrow

## Symptoms
- Lag per partition grows for more than ten minutes.

## Triage
1. Read the lag per partition:
   ```
   kafka-consumer-groups --describe --group <group>
   ```
2. Check whether one partition or all of them lag.

## Remediation
- Scale the consumer group up to the partition count.
- Restart a consumer stuck on a poison message, after parking that message.

## Verify
- Lag falls back under a thousand messages on every partition.

## Escalate
The owning team's on-call, when lag still grows after scaling.
"""

ZEBRA_RUNBOOK_YAML = """id: zebra-printer-jam
title: "Zebra label printer jam in the warehouse"
summary: "The warehouse label printers stop printing shipping labels."
keywords: [zebra printer, label printer, printer jam]
symptoms: ["Labels stop coming out"]
triage: ["Look at the printer's status light", "Open the cover and find the jammed label"]
remediation: ["Clear the jam and recalibrate with a long press on feed"]
verify: ["Print a test label"]
escalate: "Warehouse IT, when two printers jam in one hour."
"""


def test_a_markdown_runbook_reads_its_sections_keywords_and_code_blocks(tmp_path: Path) -> None:
    path = tmp_path / "kafka-consumer-lag.md"
    path.write_text(KAFKA_RUNBOOK_MD, encoding="utf-8")
    runbook = load_markdown_runbook(path)
    assert runbook.id == "kafka-consumer-lag" and runbook.title == "Kafka consumer lag"
    assert runbook.summary.startswith("Consumers fall behind") and runbook.summary.endswith("longer and longer.")
    assert runbook.keywords == ("consumer lag", "kafka lag", "burrow")
    assert runbook.triage[0] == "Read the lag per partition: `kafka-consumer-groups --describe --group <group>`"
    assert len(runbook.remediation) == 2 and runbook.verify and runbook.escalate.startswith("The owning team")


def test_a_markdown_runbook_without_sections_keeps_its_items_as_steps() -> None:
    runbook = load_markdown_runbook(SHIPPED_WAR_ROOM)
    assert runbook.title == "War room roles" and runbook.summary == ""
    assert runbook.triage[0].startswith("**Commander**") and runbook.triage[-1].startswith("Hand-off:")
    assert runbook.remediation == () and runbook.escalate == ""


@pytest.mark.parametrize(("text", "problem"), [
    ("just some words\n- a step\n", "starts with a '# Title' line"),
    ("# A title only\n", "no steps"),
])
def test_a_markdown_runbook_that_cannot_be_used_says_why_in_one_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RunbookError, match=problem):
        load_markdown_runbook(path)


async def test_package_runbooks_and_aliases_take_effect_at_once_and_leave_with_the_package(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", "team")
    registry = tmp_path / "reg"
    files = {
        "workflows/ops-kit.yaml": workflow_text("ops-kit-flow", "1.0.0", command="ops-kit-go"),
        "runbooks/kafka-consumer-lag.md": KAFKA_RUNBOOK_MD,
        "runbooks/zebra-printer-jam.yaml": ZEBRA_RUNBOOK_YAML,
        "runbooks/disk-full.yaml": ZEBRA_RUNBOOK_YAML.replace("zebra-printer-jam", "disk-full"),  # a shipped id
        "aliases/kit.yaml": "name: kitgo\nformats: [kitgo]\ncommand: ops-kit-go\n",
    }
    publish(package_folder(tmp_path / "src", "ops-kit", "1.0.0", files=files), registry, key)
    config = make_config(tmp_path / "data", [{"name": "team", "url": str(registry)}], trusted(key), admins=["ana"])
    engine = Engine(config)
    await engine.start()
    errors: list[str] = []
    engine.bus.subscribe(lambda event: errors.append(event.error) if hasattr(event, "error") else None)
    shipped = len(engine.runbooks)
    question = "the zebra label printer jammed again in the warehouse, what do I do?"
    try:
        before = await engine.ask(question, room_id="#ops", asker="bob")
        assert "Zebra label printer jam" not in before.markdown
        preview = await say(engine, "ana", "!market install ops-kit")
        assert ("runbooks: `kafka-consumer-lag`, `zebra-printer-jam` (left out, the id is a shipped runbook's: "
                "`disk-full`)") in preview
        assert "✅ install: ops-kit 1.0.0" in await say(engine, "ana", "!market confirm")

        assert len(engine.runbooks) == shipped + 2  # the one with a shipped id is left out, with one line
        assert any("disk-full.yaml: runbook id `disk-full` is taken" in error for error in errors)
        assert engine.runbooks.get("disk-full").origin == ""  # type: ignore[union-attr]
        doctor = await check_runbooks(config)
        assert doctor.status == "warn" and "disk-full.yaml: runbook id `disk-full` is taken" in doctor.detail
        assert doctor.detail.endswith(f"{shipped} shipped runbooks loaded, 2 from installed packages")
        listing = await say(engine, "bob", "!runbook")
        assert "`kafka-consumer-lag` — Kafka consumer lag (package ops-kit)" in listing
        answer = (await engine.ask(question, room_id="#ops", asker="bob")).markdown
        assert "Zebra label printer jam" in answer and "Clear the jam" in answer
        kafka = (await engine.ask("kafka consumer lag keeps growing on the orders topic", asker="bob")).markdown
        assert "Kafka consumer lag (`kafka-consumer-lag`" in kafka  # beside the shipped queue-backlog runbook
        full = await say(engine, "bob", "!runbook kafka-consumer-lag")
        assert "from package ops-kit" in full and "1. Read the lag per partition: `kafka-consumer-groups" in full
        quality = engine.capability(QualityService)
        assert "zebra" in quality.features.runbooks.vocabulary  # the forecast's runbook index followed

        assert "ops-kit-flow 1.0.0 says hello" in await say(engine, "bob", "!kitgo")
        reloaded = await say(engine, "ana", "!aliases reload")  # package aliases survive a reload
        assert "kitgo" in reloaded and "1 installed package(s)" in reloaded
        assert "ops-kit-flow 1.0.0 says hello" in await say(engine, "bob", "!kitgo")

        assert "removed" in await say(engine, "ana", "!market remove ops-kit")
        assert len(engine.runbooks) == shipped and engine.runbooks.get("zebra-printer-jam") is None
        assert "Zebra label printer jam" not in (await engine.ask(question, room_id="#ops", asker="bob")).markdown
    finally:
        await engine.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["#", " ", "\n", "-", "1.", "`", "~", "a", "Keywords:", "## Triage", "## Fix",
                                  "word", "```", "\t", "é"]), max_size=120).map("".join))
def test_any_markdown_gives_a_runbook_or_one_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "any.md"
    try:
        runbook = load_markdown_runbook(path, text)
    except RunbookError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
    else:
        assert runbook.title and (runbook.triage or runbook.remediation or runbook.verify)
