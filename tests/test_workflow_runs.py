"""Workflow runs: approval gates (approved, denied, timed out), ACL, restarts, timers, calls, steps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hololoom_core.engine import Engine
from hololoom_core.ops.workflows.incidents import IncidentActions
from hololoom_core.ops.workflows.service import WorkflowError
from hololoom_core.transport.local import LocalRoom
from tests.workflow_support import (
    FakeIncidents,
    ManualClock,
    bot_messages,
    make_config,
    service_of,
    start_engine,
    write_workflow,
)

GATED = """\
name: gated
description: Ask before doing the thing.
params:
  target: {required: true}
steps:
  - say: "Preparing {{ target }}."
  - ask: "Do the thing to {{ target }}?"
    timeout: 15m
    approvers: [priya, "@sec-*"]
    self_approval: false
  - say: "Doing it to {{ target }} (approved by {{ approval_by }})."
"""


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    directory = tmp_path / "flows"
    write_workflow(directory, "gated", GATED)
    return directory


async def open_engine(tmp_path: Path, flows: Path, clock: ManualClock, *, shipped: bool = False, **options) -> Engine:
    """An engine with the test's workflow folder; the shipped workflows (and their cron) only when asked."""
    workflows = {"directory": str(flows), "load_shipped": shipped, **options.pop("workflows", {})}
    return await start_engine(make_config(tmp_path, workflows=workflows, **options), clock)


async def test_gate_pauses_then_approval_continues(tmp_path: Path, flows: Path) -> None:
    clock = ManualClock()
    engine = await open_engine(tmp_path, flows, clock)
    try:
        room = LocalRoom(engine)
        started = (await room.post("operator", "!workflow run gated db-7")).replies[0].body
        assert "Preparing db-7." in started and "⏸ **Approval needed** for WF-1" in started
        assert "Doing it" not in started
        service = service_of(engine)
        [waiting] = service.waiting_for_approval()
        assert waiting["label"] == "WF-1" and waiting["approvers"] == ["priya", "@sec-*"]
        assert waiting["deadline_ts"] == pytest.approx(clock.now() + 900)
        run = service.get_run("WF-1")
        assert (run.status, run.pc) == ("waiting_approval", 1)

        approved = (await room.post("priya", "!workflow approve 1 go ahead")).replies[0].body
        assert approved.startswith("✅ WF-1 approved by priya — “go ahead”.")
        assert "Doing it to db-7 (approved by priya)." in approved and "✔ WF-1 `gated` finished." in approved
        run = service.get_run(1)
        assert run.status == "succeeded" and run.finished_ts is not None
        assert [step["status"] for step in run.steps] == ["ok", "waiting", "approved", "ok"]
        assert run.steps[2]["actor"] == "priya"
        assert service.waiting_for_approval() == []
        again = (await room.post("priya", "!workflow approve 1")).replies[0].body
        assert again == "WF-1 is not waiting for approval (it is succeeded)"
    finally:
        await engine.close()


async def test_gate_denied_stops_the_run(tmp_path: Path, flows: Path) -> None:
    engine = await open_engine(tmp_path, flows, ManualClock())
    try:
        room = LocalRoom(engine)
        await room.post("operator", "!workflow run gated db-7")
        denied = (await room.post("@sec-oncall:example.org", "!workflow deny 1 not during the sale")).replies[0].body
        assert denied.startswith("🛑 WF-1 denied by @sec-oncall:example.org — “not during the sale”.")
        assert "🛑 WF-1 `gated` stopped: denied by @sec-oncall:example.org." in denied
        assert "Doing it" not in denied
        run = service_of(engine).get_run(1)
        assert (run.status, run.variables["approval"], run.error) == (
            "denied", "denied", "denied by @sec-oncall:example.org")
    finally:
        await engine.close()


async def test_gate_times_out_on_the_injected_clock(tmp_path: Path, flows: Path) -> None:
    clock = ManualClock()
    engine = await open_engine(tmp_path, flows, clock)
    try:
        await LocalRoom(engine).post("operator", "!workflow run gated db-7")
        service = service_of(engine)
        clock.advance(14 * 60)
        assert await service.tick() == 0
        assert service.get_run(1).status == "waiting_approval"
        clock.advance(61)
        assert await service.tick() == 1
        run = service.get_run(1)
        assert run.status == "timed_out" and run.variables["approval"] == "timed_out"
        assert run.error == "approval timed out after 15 min"
        said = bot_messages(engine)[-1]
        assert said.startswith("⌛ WF-1: no decision on “Do the thing to db-7?” within 15 min.")
        assert "⌛ WF-1 `gated` stopped: approval timed out after 15 min." in said
        late = (await LocalRoom(engine).post("priya", "!workflow approve 1")).replies[0].body
        assert late == "WF-1 is not waiting for approval (it is timed out)"
    finally:
        await engine.close()


async def test_continue_on_deny_and_timeout_lets_the_workflow_branch(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_workflow(flows, "soft", """\
name: soft
steps:
  - ask: "Proceed?"
    timeout: 10m
    on_deny: continue
    on_timeout: continue
    save_as: answer
  - if: "answer == 'approved'"
    then:
      - say: "going"
    else:
      - say: "not going ({{ answer }})"
""")
    clock = ManualClock()
    engine = await open_engine(tmp_path, flows, clock)
    try:
        room = LocalRoom(engine)
        await room.post("operator", "!workflow run soft")
        reply = (await room.post("alice", "!workflow deny 1")).replies[0].body
        assert "not going (denied)" in reply and "✔ WF-1 `soft` finished." in reply
        await room.post("operator", "!workflow run soft")
        clock.advance(601)
        await service_of(engine).tick()
        assert "not going (timed_out)" in bot_messages(engine)[-1]
        assert service_of(engine).get_run(2).status == "succeeded"
    finally:
        await engine.close()


async def test_who_may_approve(tmp_path: Path, flows: Path) -> None:
    acl = {"commands": {"workflow approve": {"allow_users": ["priya", "alice", "@sec-*"]}}}
    engine = await open_engine(tmp_path, flows, ManualClock(), acl=acl, admins=["root"])
    try:
        room = LocalRoom(engine)
        await room.post("operator", "!workflow run gated db-7")
        refused = (await room.post("bob", "!workflow approve 1")).replies[0].body
        assert refused == "Sorry, you are not on the allow list for `workflow approve`."
        not_approver = (await room.post("alice", "!workflow approve 1")).replies[0].body
        assert not_approver == "Sorry, you are not an approver of WF-1 (approvers: priya, @sec-*)"
        assert service_of(engine).get_run(1).status == "waiting_approval"

        await room.post("priya", "!workflow run gated cache-2")
        self_approval = (await room.post("priya", "!workflow approve 2")).replies[0].body
        assert self_approval == "Sorry, you started WF-2, so someone else must approve it"
        admin = (await room.post("root", "!workflow approve 2")).replies[0].body
        assert admin.startswith("✅ WF-2 approved by root.")

        assert (await room.post("priya", "!workflow approve 1")).replies[0].body.startswith("✅ WF-1 approved")
        assert [run.status for run in service_of(engine).runs.recent()] == ["succeeded", "succeeded"]
    finally:
        await engine.close()


async def test_run_resumes_after_restart_at_its_gate(tmp_path: Path, flows: Path) -> None:
    clock = ManualClock()
    first = await open_engine(tmp_path, flows, clock)
    await LocalRoom(first).post("operator", "!workflow run gated db-7")
    await first.close()

    second = await open_engine(tmp_path, flows, clock)
    try:
        service = service_of(second)
        assert [item["label"] for item in service.waiting_for_approval()] == ["WF-1"]
        reply = (await LocalRoom(second).post("priya", "!workflow approve WF-1")).replies[0].body
        assert "Doing it to db-7 (approved by priya)." in reply
        assert service.get_run(1).status == "succeeded"
    finally:
        await second.close()


async def test_timer_survives_restart_and_fires_on_the_new_engine(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_workflow(flows, "later", "name: later\nsteps:\n  - say: first\n  - wait: 2h\n  - say: \"second at {{ now }}\"\n")
    clock = ManualClock()
    first = await open_engine(tmp_path, flows, clock)
    reply = (await LocalRoom(first).post("operator", "!workflow run later")).replies[0].body
    assert "⏳ WF-1 waits 2 h (until 10:59 UTC)." in reply
    await first.close()

    clock.advance(2 * 3600 + 1)
    second = await open_engine(tmp_path, flows, clock)
    try:
        assert await service_of(second).tick() == 1
        assert "second at 2026-11-23 10:59 UTC" in bot_messages(second)[-1]
        assert service_of(second).get_run(1).status == "succeeded"
    finally:
        await second.close()


async def test_run_interrupted_mid_step_resumes_without_repeating_side_effects(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_workflow(flows, "two", """\
name: two
steps:
  - say: before
  - set: {stage: one}
  - shell: "sleep 30"
  - say: after
""")
    write_workflow(flows, "plain", "name: plain\nsteps:\n  - say: start\n  - wait: 1s\n  - say: \"end {{ run.label }}\"\n")
    clock = ManualClock()
    first = await open_engine(tmp_path, flows, clock, workflows={"shell_allow": ["sleep *"]})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(service_of(first).start_run("two", {}, user="operator", room_id="#ops"), 0.5)
    run = service_of(first).get_run(1)
    assert run.status == "running" and run.pc == 2
    await first.close()

    second = await open_engine(tmp_path, flows, clock, workflows={"shell_allow": ["sleep *"]})
    try:
        run = service_of(second).get_run(1)
        assert run.status == "failed" and run.error is not None
        assert "step 3 (shell, line 5) was interrupted by a restart and is not repeated automatically" in run.error
        assert run.variables["stage"] == "one"
        assert [step["status"] for step in run.steps] == ["ok", "ok", "interrupted"]
        assert bot_messages(second)[-1].startswith("↻ WF-1 `two` resumes after a restart.")
    finally:
        await second.close()


async def test_call_waits_for_a_called_workflow_with_a_gate(tmp_path: Path, flows: Path) -> None:
    write_workflow(flows, "outer", """\
name: outer
steps:
  - say: "outer starts"
  - call: gated
    with: {target: "{{ run.user }}-box"}
    save_as: inner
  - say: "outer done after {{ inner.run }} ({{ inner.vars.approval }})"
""")
    engine = await open_engine(tmp_path, flows, ManualClock())
    try:
        room = LocalRoom(engine)
        started = (await room.post("operator", "!workflow run outer")).replies[0].body
        assert "▶ WF-2 `gated` started by operator (call)" in started and "**Approval needed** for WF-2" in started
        service = service_of(engine)
        assert service.get_run(1).status == "waiting_child"
        reply = (await room.post("priya", "!workflow approve 2")).replies[0].body
        assert "Doing it to operator-box" in reply
        assert "outer done after WF-2 (approved)" in reply and "✔ WF-1 `outer` finished." in reply
        assert service.get_run(1).status == "succeeded"
    finally:
        await engine.close()


async def test_shell_steps_are_off_until_allow_listed(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_workflow(flows, "sh", """\
name: sh
params:
  word: hello
steps:
  - shell: "echo {{ word }} from-workflow"
    save_as: out
  - say: "got {{ out.output }}"
""")
    engine = await open_engine(tmp_path, flows, ManualClock())
    try:
        off = await service_of(engine).start_run("sh", {}, user="operator", room_id="#ops")
        assert "shell steps are disabled; allow-list commands under workflows.shell_allow" in off
    finally:
        await engine.close()
    engine = await open_engine(tmp_path, flows, ManualClock(), workflows={"shell_allow": ["echo * from-workflow"]})
    try:
        service = service_of(engine)
        ran = await service.start_run("sh", {"word": "hi; rm -rf /"}, user="operator", room_id="#ops")
        assert "got hi; rm -rf / from-workflow" in ran
        option = await service.start_run("sh", {"word": "--version"}, user="operator", room_id="#ops")
        assert "comes from a variable and starts with '-'; refused" in option
        write_workflow(flows, "sh2", "name: sh2\nsteps:\n  - shell: \"ls /\"\n")
    finally:
        await engine.close()
    engine = await open_engine(tmp_path, flows, ManualClock(), workflows={"shell_allow": ["echo * from-workflow"]})
    try:
        refused = await service_of(engine).start_run("sh2", {}, user="operator", room_id="#ops")
        assert "`ls /` is not allowed by workflows.shell_allow" in refused
    finally:
        await engine.close()


async def test_http_only_to_allow_listed_hosts(tmp_path: Path) -> None:
    received: list[dict[str, object]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), b"0"))
        body = await reader.readexactly(length)
        received.append(json.loads(body))
        payload = b'{"rotated": true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(payload)).encode() + b"\r\nConnection: close\r\n\r\n" + payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    flows = tmp_path / "flows"
    write_workflow(flows, "hook", """\
name: hook
params:
  url: {required: true}
steps:
  - http:
      method: POST
      url: "{{ url }}"
      json: {run: "{{ run.label }}", n: 3}
    save_as: answer
  - say: "hook said {{ answer.status }} rotated={{ answer.json.rotated }}"
""")
    engine = await open_engine(tmp_path, flows, ManualClock(), workflows={"http_allow_hosts": ["127.0.0.1"]})
    try:
        service = service_of(engine)
        ok = await service.start_run("hook", {"url": f"http://127.0.0.1:{port}/rotate"}, user="op", room_id="#ops")
        assert "hook said 200 rotated=true" in ok
        assert received == [{"run": "WF-1", "n": 3}]
        refused = await service.start_run("hook", {"url": "https://example.com/x"}, user="op", room_id="#ops")
        assert "host example.com is not in workflows.http_allow_hosts (allowed: 127.0.0.1)" in refused
        assert len(received) == 1
    finally:
        await engine.close()
        server.close()
        await server.wait_closed()


async def test_incident_steps_use_the_incident_service_protocol(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_workflow(flows, "inc", """\
name: inc
steps:
  - incident: declare
    title: "Checkout 500s"
    severity: sev2
  - incident: role
    role: scribe
    user: alice
  - incident: status
    conditions: "5% errors"
    actions: "rolling back"
    needs: "db help"
  - incident: resolve
    summary: "rolled back"
  - say: "handled {{ incident.id }}"
""")
    engine = await open_engine(tmp_path, flows, ManualClock(), shipped=True)
    try:
        service = service_of(engine)
        real_incidents = engine.services.withdraw(IncidentActions)
        absent = await service.start_run("inc", {}, user="priya", room_id="#ops")
        assert ("step 1 (incident, line 3): incident steps need the incident service, which this engine does not "
                "have") in absent
        incidents = FakeIncidents()
        engine.provide(incidents, as_type=IncidentActions)
        done = await service.start_run("inc", {}, user="priya", room_id="#ops")
        assert "handled INC-1" in done
        assert [call[0] for call in incidents.calls] == ["declare", "set_role", "status_update", "resolve"]
        assert incidents.calls[1][1] == ("INC-1", "scribe", "alice")
        assert incidents.calls[2][2]["needs"] == "db help"
        kickoff = await service.start_run("incident-kickoff", {"title": "API down", "severity": "sev1"},
                                          user="priya", room_id="#ops")
        assert "🚨 **INC-2** declared (sev1): API down. Commander: priya." in kickoff
        assert ("set_role", ("INC-2", "commander", "priya"), {"user": "priya"}) in incidents.calls
        engine.provide(real_incidents, as_type=IncidentActions)  # and the real incident service
        real = await service.start_run("inc", {}, user="priya", room_id="#ops")
        assert "handled INC-1" in real
        incident = real_incidents.get("INC-1")
        assert incident.status == "resolved" and incident.roles == {"scribe": "alice"}
    finally:
        await engine.close()


async def test_arguments_are_checked(tmp_path: Path, flows: Path) -> None:
    engine = await open_engine(tmp_path, flows, ManualClock(), shipped=True)
    try:
        service = service_of(engine)
        with pytest.raises(WorkflowError, match="`gated` needs target"):
            await service.start_run("gated", {}, user="op", room_id="#ops")
        with pytest.raises(WorkflowError, match="has no argument 'colour'"):
            await service.start_run("gated", {"target": "x", "colour": "red"}, user="op", room_id="#ops")
        with pytest.raises(WorkflowError, match="No workflow `gatd`. Did you mean `gated`"):
            await service.start_run("gatd", {}, user="op", room_id="#ops")
        bad_choice = (await LocalRoom(engine).post("op", "!kickoff 'API down' sev9")).replies[0].body
        assert bad_choice == "`incident-kickoff`: severity must be one of sev1, sev2, sev3, sev4 (got 'sev9')"
        assert service.runs.recent() == []
    finally:
        await engine.close()


async def test_fail_step_on_error_continue_and_cancel(tmp_path: Path, flows: Path) -> None:
    write_workflow(flows, "fragile", """\
name: fragile
steps:
  - call: no-such-workflow
    on_error: continue
  - say: "carried on after: {{ last_error }}"
  - fail: "giving up on purpose"
  - say: never
""")
    engine = await open_engine(tmp_path, flows, ManualClock())
    try:
        room = LocalRoom(engine)
        reply = (await room.post("op", "!workflow run fragile")).replies[0].body
        assert "carried on after: there is no workflow 'no-such-workflow' to call" in reply
        assert "✖ WF-1 `fragile` failed: giving up on purpose" in reply and "never" not in reply
        await room.post("op", "!workflow run gated x")
        assert (await room.post("bob", "!workflow cancel 2")).replies[0].body == (
            "only op (who started WF-2) or an admin may cancel it")
        assert (await room.post("op", "!workflow cancel 2")).replies[0].body == "✖ WF-2 `gated` cancelled by op."
        status = (await room.post("op", "!workflow status 2")).replies[0].body
        assert status.startswith("**WF-2 · `gated`** — ✖ cancelled")
    finally:
        await engine.close()
