"""Incident management through the one pipeline: declare, roles, status, severity, timeline, resolve, postmortem."""

from __future__ import annotations

from pathlib import Path

import pytest

from hololoom_core.cli.main import main
from hololoom_core.engine import Engine
from hololoom_core.models import Insight, StoredMessage
from hololoom_core.ops.incidents import IncidentChanged
from hololoom_core.ops.incidents.service import IncidentService
from hololoom_core.transport.local import LocalRoom
from hololoom_core.transport.scenarios import load_scenario, play_scenario, shipped_scenarios
from tests.ops.ops_helpers import make_config, reply_text, sayer

T0 = 1_764_072_000.0  # 2025-11-25 12:00:00 UTC


async def test_full_incident_lifecycle(engine: Engine) -> None:
    changes: list[str] = []
    engine.bus.subscribe(lambda event: changes.append(event.change) if isinstance(event, IncidentChanged) else None)
    say = sayer(engine)
    declared = await say("alice", "!incident declare checkout-api returning HTTP 500 errors sev2", ts=T0)
    reply = declared.replies[0]
    assert reply.body.startswith("**INC-1 declared** (sev2): checkout-api returning HTTP 500 errors")
    assert "`http-5xx`" in reply.body  # a matching runbook is proposed
    thread = reply.thread_id
    assert thread == declared.message.event_id  # the reply starts the incident's thread

    await say("priya", "I'm on it, looking at the dashboards", ts=T0 + 65, thread=thread)
    role = reply_text(await say("alice", "!incident role @priya commander", ts=T0 + 90, thread=thread))
    assert role.startswith("@priya — you are now the **commander** for INC-1")
    assert "You lead the response" in role
    scribe = reply_text(await say("priya", "!incident role INC-1 @bob scribe", ts=T0 + 100, thread=thread))
    assert scribe.startswith("@bob — you are now the **scribe**") and "You keep the record" in scribe
    status = reply_text(await say(
        "priya", "!incident status conditions: 12% of POST /v2/orders fail; actions: rolling back 3f9a2c1; "
                 "needs: a DBA", ts=T0 + 300, thread=thread))
    assert status.splitlines()[1:] == ["- **Conditions:** 12% of POST /v2/orders fail",
                                       "- **Actions:** rolling back 3f9a2c1", "- **Needs:** a DBA"]
    assert reply_text(await say("priya", "!incident sev sev1", ts=T0 + 320, thread=thread)) == \
        "INC-1 is now **sev1** (was sev2)."
    await say("bob", "Action items: @bob will add an alert on pool timeouts by Friday. @marco will review pool "
                     "sizing by Wednesday.", ts=T0 + 900, thread=thread)
    await say("marco", "TODO: add a CI check for pool_size in prod overlays", ts=T0 + 950, thread=thread)
    await say("carol", "unrelated chatter in the room", ts=T0 + 960)
    await say("dave", "FYI INC-1 also hit the mobile app", ts=T0 + 970)  # tagged by mentioning the id
    await say("alice", "!incident note went well: the rollback took two minutes", ts=T0 + 1000, thread=thread)
    await say("alice", "!incident action @alice write the customer update", ts=T0 + 1100, thread=thread)
    resolved = reply_text(await say(
        "priya", "!incident resolve root cause: pool_size set to 5 by commit 3f9a2c1, reverted in 9b41e07",
        ts=T0 + 1800))
    assert resolved.splitlines()[:3] == [
        "**INC-1 resolved** after 30m 00s.",
        "Time to acknowledge: 1m 05s (priya).",
        "Root cause (as stated): pool_size set to 5 by commit 3f9a2c1, reverted in 9b41e07",
    ]

    service = engine.capability(IncidentService)
    incident = service.get("INC-1")
    assert incident is not None
    assert incident.status == "resolved" and incident.severity == "sev1"
    assert incident.time_to_acknowledge == pytest.approx(65.0)
    assert incident.time_to_resolve == pytest.approx(1800.0)
    assert incident.roles == {"commander": "priya", "scribe": "bob"}
    kinds = [entry.kind for entry in service.timeline("INC-1")]
    # Messages the detectors flagged show as their insight (one line per message), the rest as messages.
    assert kinds == ["declared", "insight:action_item", "acknowledged", "role", "role", "status", "severity",
                     "insight:action_item", "insight:action_item", "message", "note", "action", "resolved"]
    assert {"declared", "acknowledged", "role", "status", "severity", "note", "action", "resolved"} <= set(changes)
    texts = " ".join(entry.text for entry in service.timeline("INC-1"))
    assert "unrelated chatter" not in texts and "also hit the mobile app" in texts
    owners = [(item.owner, item.text) for item in service.action_items("INC-1")]
    assert owners == [("priya", "I'm on it, looking at the dashboards"),  # taking ownership, flagged by the detectors
                      ("bob", "add an alert on pool timeouts by Friday"), ("marco", "review pool sizing by Wednesday"),
                      ("unassigned", "add a CI check for pool_size in prod overlays"),
                      ("alice", "write the customer update")]

    postmortem = reply_text(await say("alice", "!incident postmortem INC-1", ts=T0 + 1900))
    assert postmortem == engine.store.scalar("SELECT postmortem FROM incidents WHERE id = 1")
    for heading in ("# Postmortem — INC-1: checkout-api returning HTTP 500 errors", "## Summary", "## Impact",
                    "## Timeline (UTC)", "## Root cause (as stated)", "## What went well", "## What went badly",
                    "## Action items", "## Related"):
        assert heading in postmortem
    assert "| Severity | sev1 |" in postmortem
    assert "time to acknowledge 1m 05s" in postmortem and "time to resolve 30m 00s" in postmortem
    assert "> pool_size set to 5 by commit 3f9a2c1, reverted in 9b41e07" in postmortem
    assert "- **12:05:00** priya — _status_: Conditions: 12% of POST /v2/orders fail" in postmortem
    assert "- 12:05:00 UTC, priya: 12% of POST /v2/orders fail" in postmortem  # impact from the conditions
    assert "Acknowledged after 1m 05s (priya); the sev1 target is 5m 00s." in postmortem.split("## What went badly")[0]
    assert "the rollback took two minutes (said by alice)" in postmortem
    badly = postmortem.split("## What went badly")[1].split("##")[0]
    assert "The severity was underestimated at first (sev2 → sev1 after 5m 20s)." in badly
    assert "| bob | add an alert on pool timeouts by Friday | message |" in postmortem
    assert "| alice | write the customer update | command |" in postmortem
    assert "Runbook `http-5xx`" in postmortem

    again = reply_text(await say("bob", "!incident resolve INC-1 fixed", ts=T0 + 2000))
    assert again == "INC-1 is already resolved."
    second = reply_text(await say("alice", "!incident open sev3 checkout-api HTTP 500 errors again", ts=T0 + 9000))
    assert "**Similar past incidents**" in second and "INC-1 (sev1, resolved in 30m 00s)" in second


async def test_postmortem_flags_what_went_badly(engine: Engine) -> None:
    say = sayer(engine)
    await say("alice", "!incident declare sev1 payments down", ts=T0)
    await say("alice", "!incident status payments failing for all users", ts=T0 + 600)
    await say("alice", "!incident status conditions: still failing", ts=T0 + 600 + 3000)
    await say("alice", "!incident resolve card processor credentials rotated", ts=T0 + 2 * 3600)
    postmortem = engine.capability(IncidentService).postmortem("INC-1")
    badly = postmortem.split("## What went badly")[1].split("\n## ")[0]
    assert "Acknowledged after 10m 00s (alice); the sev1 target is 5m 00s." in badly
    assert "Resolved after 2h 00m; the sev1 target is 1h 00m." in badly
    assert "No incident commander was assigned" in badly
    assert "The longest stretch without a status update was 1h 00m." in badly
    assert "No action items were recorded." in badly
    assert "Not stated separately. The resolution note reads:\n> card processor credentials rotated" in postmortem


async def test_insights_in_the_incident_thread_join_the_timeline(engine: Engine) -> None:
    class KeywordDetector:
        """A detector registered the way the memory capability registers its own."""

        def detect(self, message: StoredMessage) -> list[Insight]:
            if "decided" in message.body:
                return [Insight("decision", message.id, message.room_id, message.body, 0.9)]
            if message.body.rstrip().endswith("?"):
                return [Insight("question", message.id, message.room_id, message.body, 0.8)]
            if message.body.startswith("please"):
                return [Insight("action_item", message.id, message.room_id, "rotate the key", 0.7,
                                data={"owner": "amara"})]
            return []

    engine.detectors.append(KeywordDetector())
    say = sayer(engine)
    thread = (await say("greta", "!incident open sev2 certificate expiring", ts=T0)).replies[0].thread_id
    await say("noah", "We decided to renew manually with certbot", ts=T0 + 60, thread=thread)
    await say("noah", "Why did cert-manager skip the renewal?", ts=T0 + 120, thread=thread)
    await say("greta", "please, someone", ts=T0 + 130, thread=thread)
    await say("noah", "We decided nothing here", ts=T0 + 140)  # not in the thread: not on the timeline
    await say("greta", "!incident resolve renewed", ts=T0 + 600)
    service = engine.capability(IncidentService)
    kinds = [entry.kind for entry in service.timeline("INC-1")]
    assert kinds.count("insight:decision") == 1 and kinds.count("insight:question") == 1
    assert ("amara", "rotate the key") in [(i.owner, i.text) for i in service.action_items("INC-1")]
    postmortem = service.postmortem("INC-1")
    assert "## Decisions\n\n- noah: We decided to renew manually with certbot" in postmortem
    assert "## Open questions\n\n- noah: Why did cert-manager skip the renewal?" in postmortem


async def test_finding_the_incident_and_errors(engine: Engine) -> None:
    say = sayer(engine)
    assert reply_text(await say("bob", "!incident status")) == (
        "no open incident in this room; declare one with `!incident declare TITLE [sev1-4]`.")
    await say("bob", "!incident declare db slow")
    await say("bob", "!incident declare cache cold sev4")
    assert reply_text(await say("bob", "!incident sev sev2")) == (
        "several incidents are open here (INC-2, INC-1); name one, e.g. `INC-2`.")
    assert reply_text(await say("bob", "!incident sev INC-1 sev2")) == "INC-1 is now **sev2** (was sev3)."
    assert reply_text(await say("bob", "!incident role INC-1 @ann chef")).startswith(
        "ROLE must be one of commander, scribe, comms, got 'chef'. Usage: `!incident role [INC-N] @USER ROLE`")
    assert reply_text(await say("bob", "!incident role INC-1 ann ic")).startswith(
        "@USER must be a user such as @alice")
    assert reply_text(await say("bob", "!incident show INC-77")) == "no incident INC-77; open: INC-2, INC-1."
    assert reply_text(await say("bob", "!incident declare")).startswith("missing TITLE...")
    assert reply_text(await say("bob", "!incident frobnicate")).startswith("Unknown subcommand `!incident frobnicate`")
    listing = reply_text(await say("bob", "!incident list"))
    assert listing.splitlines()[0] == "**2 open incident(s)**"


async def test_acl_on_privileged_incident_commands(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        bot={"admins": ["root"]},
        acl={"permissions": {"incident": ["priya", "alice"]},
             "commands": {"incident resolve": {"admin_only": True}}},
    )
    engine = Engine(config)
    try:
        say = sayer(engine)
        assert reply_text(await say("bob", "!incident declare db down sev1")) == (
            "Sorry, `incident declare` needs the `incident` permission.")
        assert reply_text(await say("bob", "!incident open sev1 db down")) == (
            "Sorry, `incident declare` needs the `incident` permission.")
        assert engine.capability(IncidentService).list() == []
        assert reply_text(await say("alice", "!incident declare db down sev1")).startswith("**INC-1 declared**")
        assert reply_text(await say("bob", "!incident status conditions: writes failing")).startswith(
            "**INC-1 status**")  # status updates are open to every responder
        assert reply_text(await say("bob", "!incident role @bob commander")) == (
            "Sorry, `incident role` needs the `incident` permission.")
        assert reply_text(await say("priya", "!incident resolve fixed")) == "Sorry, `incident resolve` is for admins only."
        bob_help = reply_text(await say("bob", "!help incident"))
        assert "!incident status" in bob_help and "!incident declare" not in bob_help
        assert "!incident resolve" not in reply_text(await say("priya", "!help incident"))
        incident = engine.capability(IncidentService).get("INC-1")
        assert incident is not None and incident.is_open
        assert reply_text(await say("root", "!incident resolve fixed")).startswith("**INC-1 resolved**")
    finally:
        await engine.close()


def test_incident_lifecycle_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--data-dir", str(tmp_path)]

    def run(*argv: str) -> str:
        assert main([*base, *argv]) == 0
        return capsys.readouterr().out

    assert run("say", "--as", "alice", "!incident open sev2 disk full on db-1").startswith(
        "**INC-1 declared** (sev2): disk full on db-1")
    assert run("say", "--as", "alice", "!incident role @ravi commander").startswith("@ravi — you are now the")
    run("say", "--as", "ravi", "!incident status conditions: /var at 97% actions: rotating logs")
    assert run("say", "--as", "ravi", "!incident resolve INC-1 root cause: logrotate stopped after an upgrade"
               ).startswith("**INC-1 resolved**")
    listing = run("incident", "list")
    assert "INC-1" in listing and "resolved" in listing and "disk full on db-1" in listing
    shown = run("incident", "show", "inc-1")
    assert "roles         commander=ravi" in shown and "root cause    logrotate stopped after an upgrade" in shown
    postmortem = run("incident", "postmortem", "INC-1")
    assert postmortem.startswith("# Postmortem — INC-1: disk full on db-1")
    assert "> logrotate stopped after an upgrade" in postmortem and "Runbook `disk-full`" in postmortem
    out_file = tmp_path / "pm.md"
    run("incident", "postmortem", "INC-1", "-o", str(out_file))
    assert out_file.read_text() == postmortem
    assert "/var at 97%" in run("incident", "timeline", "INC-1")
    assert main([*base, "incident", "show", "INC-9"]) == 1
    assert capsys.readouterr().err.strip() == "hololoom: incident: no incident INC-9 (recent: INC-1)"


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
async def test_shipped_scenarios_open_and_resolve_their_incident(tmp_path: Path, name: str) -> None:
    scenario = load_scenario(name)
    engine = Engine(make_config(tmp_path))
    try:
        results = await play_scenario(scenario, LocalRoom(engine, room_id=scenario.room), speed=0)
        bodies = [reply.body for result in results for reply in result.replies if reply.kind == "command"]
        declares = [body for body in bodies if "declared**" in body]
        resolves = [body for body in bodies if "resolved**" in body]
        if not any("!incident" in message.text for message in scenario.messages):
            assert not declares
            return
        assert len(declares) == 1 and len(resolves) == 1, bodies
        incident = engine.capability(IncidentService).list()[0]
        assert incident.status == "resolved"  # `{incident}` in the scenario is the id the engine gave it
        assert resolves[0].startswith(f"**{incident.key} resolved**") and not incident.external_ids
    finally:
        await engine.close()


async def test_api_500_scenario_postmortem(tmp_path: Path) -> None:
    scenario = load_scenario("api-500-incident")
    engine = Engine(make_config(tmp_path))
    try:
        await play_scenario(scenario, LocalRoom(engine, room_id=scenario.room), speed=0)
        service = engine.capability(IncidentService)
        incident = service.get("INC-1")  # the scenario names its incident `{incident}`: the id it was given
        assert incident is not None and incident.key == "INC-1" and incident.acknowledged_by == "priya"
        postmortem = service.postmortem("INC-1")
        assert "> prod pool_size set to 5 by config commit 3f9a2c1, reverted in 9b41e07" in postmortem
        assert "| bob | add an alert on pool checkout timeouts by Friday | message |" in postmortem
        assert "| marco | review pool sizing for all services against max_connections by next Wednesday |" in postmortem
        assert "QueuePool limit of size 5" in postmortem  # the incident thread's messages are on the timeline
    finally:
        await engine.close()


async def test_resuming_a_declaration_after_a_crash_does_not_declare_twice(engine: Engine) -> None:
    result = await sayer(engine)("alice", "!incident declare sev2 api down", ts=T0)
    stored = result.message
    replies = await engine.resume(stored, "command")  # as if the reply had never been stored
    assert replies[0].body.startswith("**INC-1 declared**")
    assert [incident.key for incident in engine.capability(IncidentService).list()] == ["INC-1"]


async def test_a_failing_tracker_never_loses_the_message(engine: Engine) -> None:
    say = sayer(engine)
    thread = (await say("alice", "!incident declare sev2 api down", ts=T0)).replies[0].thread_id
    service = engine.capability(IncidentService)
    errors: list[str] = []
    engine.bus.subscribe(lambda event: errors.append(getattr(event, "error", "")) if hasattr(event, "where") else None)

    def broken(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("disk on fire")

    service.db.add_entry = broken  # type: ignore[method-assign]  # fault injection: the timeline write fails
    result = await say("bob", "looking at it", ts=T0 + 10, thread=thread)
    assert result.message is not None
    kept = engine.messages.get(result.message.id)
    assert kept is not None and kept.body == "looking at it"
    assert errors == [f"message {result.message.id}: RuntimeError: disk on fire"]
