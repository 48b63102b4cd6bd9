"""Workflow triggers: message patterns, insights, incident events and cron schedules start runs by themselves."""

from __future__ import annotations

from pathlib import Path

from hololoom_core.models import Insight, StoredMessage
from hololoom_core.ops.incidents.service import IncidentService
from hololoom_core.ops.workflows.incidents import IncidentActions
from hololoom_core.transport.local import LocalRoom
from tests.workflow_support import (
    FakeIncidents,
    IncidentDeclared,
    ManualClock,
    bot_messages,
    make_config,
    service_of,
    start_engine,
    write_workflow,
)


async def test_message_pattern_starts_security_containment(tmp_path: Path) -> None:
    clock = ManualClock()
    engine = await start_engine(make_config(tmp_path), clock)
    try:
        room = LocalRoom(engine, room_id="#payments")
        service = service_of(engine)
        await room.post("sam", "I pushed the new token refresh code")
        await room.post("sam", "!review nothing")
        await room.post("sam", "we leaked a key last week (history arriving late)", ts=clock.now() - 3600)
        await service.drain()
        assert service.runs.recent() == []

        await room.post("sam", "oops, we leaked the staging AWS key AKIAQ3EGPRWM5XNYTL7Z in #general")
        await service.drain()
        [run] = service.runs.recent()
        assert (run.workflow, run.trigger, run.started_by, run.room_id, run.status) == (
            "security-containment", "message", "sam", "#payments", "waiting_approval")
        assert run.variables["what"].startswith("oops, we leaked the staging AWS key [REDACTED:aws-access-key]")
        said = bot_messages(engine, "#payments")[-1]
        assert "🔒 **Security containment** (sev1, not in the incident tracker)" in said
        assert "**Approval needed** for WF-1" in said
        # A chat message only suggests an incident; a permitted person's command declares it.
        assert "💡 This looks like an incident." in said and "`!incident declare \"Security: oops" in said
        assert engine.capability(IncidentService).get("INC-1") is None
        assert "AKIAQ3EGPRWM5XNYTL7Z" not in said

        await room.post("ines", "the key was leaked again, sorry")
        await service.drain()
        assert len(service.runs.recent()) == 1  # cooling down for an hour in this room
    finally:
        await engine.close()


async def test_insight_trigger_starts_incident_kickoff(tmp_path: Path) -> None:
    class IncidentSignals:
        def detect(self, message: StoredMessage) -> list[Insight]:
            if "500" not in message.body:
                return []
            return [Insight("incident_signal", message.id, message.room_id, message.body, 0.9)]

    flows = tmp_path / "flows"
    write_workflow(flows, "auto-kickoff", """\
name: auto-kickoff
params:
  title:
    required: true
triggers:
  - insight: incident_signal
    min_confidence: 0.8
    cooldown: 30m
    args:
      title: "{{ trigger.text }}"
steps:
  - call: incident-kickoff
    with:
      title: "{{ title }}"
""")
    engine = await start_engine(make_config(tmp_path, workflows={"directory": str(flows)}), ManualClock())
    try:
        engine.detectors.append(IncidentSignals())
        incidents = FakeIncidents()
        engine.provide(incidents, as_type=IncidentActions)
        await LocalRoom(engine).post("alice", "checkout-api is returning 500 on every order")
        service = service_of(engine)
        await service.drain()
        runs = {run.workflow: run for run in service.runs.recent()}
        assert (runs["auto-kickoff"].trigger, runs["auto-kickoff"].status) == ("insight", "succeeded")
        # An insight only suggests: the called kickoff (proactive, like its caller) declares nothing.
        assert incidents.calls == []
        said = bot_messages(engine)[-1]
        assert "🚨 **INC-1**" not in said and "I could not open it in the incident tracker" in said
        assert "`!incident declare \"checkout-api is returning 500 on every order\" sev2`" in said
    finally:
        await engine.close()


async def test_incident_event_trigger_and_no_self_triggering(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_workflow(flows, "on-declared", """\
name: on-declared
triggers:
  - incident: declared
    cooldown: 0s
steps:
  - say: "noticed {{ trigger.id }} ({{ trigger.severity }}): {{ trigger.title }}"
  - incident: declare
    title: "follow-up for {{ trigger.id }}"
""")
    config = make_config(tmp_path, workflows={"directory": str(flows), "load_shipped": False})
    engine = await start_engine(config, ManualClock())
    try:
        incidents = FakeIncidents(engine, publish_events=True)
        engine.provide(incidents, as_type=IncidentActions)
        engine.bus.publish(IncidentDeclared({"id": "INC-77", "title": "DNS down", "severity": "sev1",
                                             "room_id": "#ops"}, user="priya"))
        service = service_of(engine)
        await service.drain()
        runs = service.runs.recent()
        assert [(run.workflow, run.trigger, run.started_by, run.status) for run in runs] == [
            ("on-declared", "incident", "priya", "succeeded")]
        assert "noticed INC-77 (sev1): DNS down" in bot_messages(engine)[-1]
        # The run declared INC-1 itself; that event did not start the workflow again.
        assert [call[1][0] for call in incidents.calls] == ["follow-up for INC-77"]
    finally:
        await engine.close()


async def test_cron_fires_once_per_schedule_and_not_again_after_restart(tmp_path: Path) -> None:
    clock = ManualClock()  # Monday 08:59 UTC
    config = make_config(tmp_path)
    engine = await start_engine(config, clock)
    service = service_of(engine)
    assert await service.tick() == 0
    await LocalRoom(engine).post("alice", "deploy of search-api 2.14 is done")
    clock.advance(90)  # 09:00:30
    assert await service.tick() == 1
    assert await service.tick() == 0
    [run] = service.runs.recent()
    assert (run.workflow, run.trigger, run.started_by, run.room_id) == ("standup-digest", "cron", "schedule", "#ops")
    digest = bot_messages(engine)[-1]
    assert "☀️ **Stand-up digest for #ops** — Monday 2026-11-23" in digest
    assert "Activity: 1 message(s) from 1 people: alice (1)." in digest
    await engine.close()

    clock.advance(3600)
    engine = await start_engine(config, clock)
    try:
        service = service_of(engine)
        assert await service.tick() == 0
        clock.advance(23 * 3600)  # Tuesday 09:00:30
        assert await service.tick() == 1
        assert [run.trigger for run in service.runs.recent()] == ["cron", "cron"]
    finally:
        await engine.close()
