"""Issue 10, permissions follow the caller: workflow shortcuts and aliases are checked as `workflow run` and as
what their steps do, chat text only suggests incidents, and approval gates take permitted, distinct approvers.

Real engine, real SQLite, the real incident service and the shipped workflows throughout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.ops.incidents.service import IncidentService
from hololoom_core.transport.local import LocalRoom
from tests.workflow_support import ManualClock, make_config, service_of, start_engine

ADMIN = "root"
LOCKED_ACL = {"commands": {"workflow run": {"admin_only": True}}, "permissions": {"incident": ["priya"]}}


async def _engine(tmp_path: Path, acl: dict[str, Any], *, ops: dict[str, Any] | None = None,
                  **extra: Any) -> Engine:
    config = make_config(tmp_path, acl=acl, admins=[ADMIN], **extra)
    if ops is not None:
        config = Config.model_validate({**config.model_dump(), "ops": ops})
    return await start_engine(config, ManualClock())


def _incidents(engine: Engine) -> list[Any]:
    return engine.capability(IncidentService).open_incidents()


@pytest.mark.parametrize("command", ['!kickoff "db down" sev1', "!rollback checkout-api", "!handoff bob",
                                     "!standup", '!contain "leaked AWS key"', "!workflow run standup-digest",
                                     "!wf run incident-kickoff x"])
async def test_shortcuts_are_checked_as_workflow_run(tmp_path: Path, command: str) -> None:
    engine = await _engine(tmp_path, LOCKED_ACL)
    try:
        reply = (await LocalRoom(engine).post("mallory", command)).replies[0].body
        assert reply.startswith("Sorry") and "admins only" in reply, reply
        assert service_of(engine).runs.recent() == [] and _incidents(engine) == []
    finally:
        await engine.close()


async def test_steps_need_the_permission_of_the_command_they_do(tmp_path: Path) -> None:
    engine = await _engine(tmp_path, {"permissions": {"incident": ["priya"]}})
    try:
        room = LocalRoom(engine)
        reply = (await room.post("mallory", '!kickoff "db down" sev1')).replies[0].body
        assert reply == ("Sorry, `incident-kickoff` step 2 (line 20) does `incident declare`, and `incident declare` "
                         "needs the `incident` permission; a workflow runs with the permissions of whoever starts it")
        contain = (await room.post("mallory", '!contain "leaked key"')).replies[0].body
        assert contain.startswith("Sorry, `security-containment` step 1 ") and "`incident declare`" in contain
        assert service_of(engine).runs.recent() == [] and _incidents(engine) == []
        # The same command by hand is refused the same way, and a permitted user may do both.
        assert "needs the `incident` permission" in (await room.post("mallory", "!incident declare db sev1")
                                                     ).replies[0].body
        started = (await room.post("priya", '!kickoff "db down" sev1')).replies[0].body
        assert "declared (sev1): db down" in started
        assert [incident.severity for incident in _incidents(engine)] == ["sev1"]
    finally:
        await engine.close()


async def test_shell_and_http_steps_need_their_permissions(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "probe.yaml").write_text("name: probe\ntriggers:\n  - command: probe\nsteps:\n"
                                      "  - shell: echo hi\n", encoding="utf-8")
    engine = await _engine(tmp_path, {"permissions": {"shell": ["ops-lead"]}},
                           workflows={"directory": str(flows), "shell_allow": ["echo *"]})
    try:
        room = LocalRoom(engine)
        reply = (await room.post("mallory", "!probe")).replies[0].body
        assert reply.startswith("Sorry, `probe` step 1 (line 5) does `workflow shell`, and `workflow shell` needs "
                                "the `shell` permission")
        assert "exited with 0" not in (await room.post("mallory", "!workflow run probe")).replies[0].body
        assert "✔ WF-1 `probe` finished." in (await room.post("ops-lead", "!probe")).replies[0].body
    finally:
        await engine.close()


async def test_a_workflow_alias_is_checked_as_workflow_run_and_as_its_steps(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases"
    aliases.mkdir()
    (aliases / "sev.yaml").write_text('name: page\nformats: ["page {{title}}"]\nworkflow: incident-kickoff\n'
                                      'args: {severity: sev1}\n', encoding="utf-8")
    engine = await _engine(tmp_path, LOCKED_ACL, ops={"aliases_dir": str(aliases)})
    try:
        room = LocalRoom(engine)
        reply = (await room.post("mallory", "!page the database is down")).replies[0].body
        assert reply.startswith("Sorry") and "admins only" in reply
        assert service_of(engine).runs.recent() == [] and _incidents(engine) == []
        assert "declared (sev1)" in (await room.post(ADMIN, "!page the database is down")).replies[0].body
    finally:
        await engine.close()


async def test_a_command_alias_is_checked_as_the_command_it_runs(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases"
    aliases.mkdir()
    (aliases / "sev.yaml").write_text('name: sev1\nformats: ["sev1 {{title}}"]\n'
                                      'command: "incident declare {{title}} sev1"\n', encoding="utf-8")
    engine = await _engine(tmp_path, {"permissions": {"incident": ["priya"]}}, ops={"aliases_dir": str(aliases)})
    try:
        room = LocalRoom(engine)
        reply = (await room.post("mallory", "!sev1 checkout is down")).replies[0].body
        assert "needs the `incident` permission" in reply and _incidents(engine) == []
        await room.post("priya", "!sev1 checkout is down")
        assert [incident.severity for incident in _incidents(engine)] == ["sev1"]
    finally:
        await engine.close()


async def test_chat_about_leaked_credentials_only_suggests_an_incident(tmp_path: Path) -> None:
    engine = await _engine(tmp_path, {"permissions": {"incident": ["priya"]}})
    try:
        room = LocalRoom(engine, room_id="#payments")
        await room.post("mallory", "we leaked the staging credentials in the wiki")
        service = service_of(engine)
        await service.drain()
        [run] = service.runs.recent()
        assert (run.workflow, run.trigger, run.started_by) == ("security-containment", "message", "mallory")
        assert _incidents(engine) == []
        said = [row["body"] for row in engine.store.query("SELECT body FROM messages WHERE is_bot = 1")]
        suggestion = next(body for body in said if "💡 This looks like an incident." in body)
        assert '`!incident declare "Security: we leaked the staging credentials in the wiki" sev1`' in suggestion
        # Only a permitted person's confirmation declares it.
        assert "Sorry" in (await room.post("mallory", '!incident declare "Security: leak" sev1')).replies[0].body
        assert _incidents(engine) == []
        await room.post("priya", '!incident declare "Security: leak" sev1')
        assert [incident.severity for incident in _incidents(engine)] == ["sev1"]
    finally:
        await engine.close()


async def test_two_person_gates_need_a_distinct_permitted_approver(tmp_path: Path) -> None:
    acl = {"commands": {"workflow run": {"allow_users": ["priya", "quinn"]}}}
    engine = await _engine(tmp_path, acl)
    try:
        room = LocalRoom(engine)
        started = (await room.post("priya", "!rollback checkout-api")).replies[0].body
        assert "Approval needed" in started and "(not priya, who started it)" in started
        assert (await room.post("priya", "!workflow approve 1")).replies[0].body == \
            "Sorry, you started WF-1, so someone else must approve it"
        refused = (await room.post("mallory", "!workflow approve 1")).replies[0].body
        assert refused.startswith("Sorry, you may not decide WF-1: you are not on the allow list for `workflow run`")
        assert service_of(engine).get_run(1).status == "waiting_approval"
        assert "✅ WF-1 approved by quinn." in (await room.post("quinn", "!workflow approve 1")).replies[0].body
    finally:
        await engine.close()


async def test_self_approval_is_off_unless_the_workflow_says_so(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "gate.yaml").write_text("name: gate\nsteps:\n  - ask: go?\n  - say: went\n", encoding="utf-8")
    (flows / "selfok.yaml").write_text("name: selfok\nsteps:\n  - ask: go?\n    self_approval: true\n"
                                       "  - say: went\n", encoding="utf-8")
    engine = await _engine(tmp_path, {}, workflows={"directory": str(flows)})
    try:
        room = LocalRoom(engine)
        await room.post("alice", "!workflow run gate")
        assert (await room.post("alice", "!workflow approve 1")).replies[0].body.startswith("Sorry, you started WF-1")
        await room.post("alice", "!workflow run selfok")
        assert "✅ WF-2 approved by alice." in (await room.post("alice", "!workflow approve 2")).replies[0].body
    finally:
        await engine.close()


async def test_approvers_never_come_from_a_pattern_in_the_arguments(tmp_path: Path) -> None:
    engine = await _engine(tmp_path, {})
    try:
        room = LocalRoom(engine)
        reply = (await room.post("alice", "!handoff *")).replies[0].body
        assert "approver '{{ to }}' became '*'" in reply and "✖ WF-1 `oncall-handoff` failed" in reply
        service = service_of(engine)
        assert service.get_run(1).status == "failed" and service.waiting_for_approval() == []
        assert "not waiting for approval" in (await room.post("mallory", "!workflow approve 1")).replies[0].body
        # A named user is fine: only they (or an admin) take the pager.
        await room.post("alice", "!handoff bob")
        assert (await room.post("mallory", "!workflow approve 2")).replies[0].body == \
            "Sorry, you are not an approver of WF-2 (approvers: bob)"
        assert "✅ WF-2 approved by bob." in (await room.post("bob", "!workflow approve 2")).replies[0].body
    finally:
        await engine.close()


async def test_group_and_admin_approvers_come_from_config(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "gate.yaml").write_text("name: gate\nsteps:\n  - ask: go?\n    approvers: ['group:sre', admins]\n"
                                     "  - say: went\n", encoding="utf-8")
    engine = await _engine(tmp_path, {"permissions": {"sre": ["@sam:*"]}}, workflows={"directory": str(flows)})
    try:
        room = LocalRoom(engine)
        await room.post("alice", "!workflow run gate")
        await room.post("alice", "!workflow run gate")
        assert (await room.post("@mallory:x.org", "!workflow approve 1")).replies[0].body.startswith(
            "Sorry, you are not an approver of WF-1")
        assert "approved by @sam:x.org" in (await room.post("@sam:x.org", "!workflow approve 1")).replies[0].body
        assert f"approved by {ADMIN}" in (await room.post(ADMIN, "!workflow approve 2")).replies[0].body
    finally:
        await engine.close()


async def test_a_gate_that_needs_two_approvals_needs_two_distinct_permitted_people(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "gate.yaml").write_text("name: gate\nsteps:\n  - ask: go?\n    approvals: 2\n"
                                     "    approvers: ['group:sre']\n  - say: went\n", encoding="utf-8")
    engine = await _engine(tmp_path, {"permissions": {"sre": ["sam", "tess", "alice"]}},
                           workflows={"directory": str(flows)})
    try:
        room = LocalRoom(engine)
        started = (await room.post("alice", "!workflow run gate")).replies[0].body
        assert "2 different people among group:sre (not alice, who started it)" in started
        assert (await room.post("alice", "!workflow approve 1")).replies[0].body.startswith("Sorry, you started")
        assert (await room.post("mallory", "!workflow approve 1")).replies[0].body.startswith(
            "Sorry, you are not an approver")
        first = (await room.post("sam", "!workflow approve 1")).replies[0].body
        assert first == "☑️ WF-1: approval 1 of 2 by sam; waiting for 1 more."
        assert (await room.post("sam", "!workflow approve 1")).replies[0].body == \
            "Sorry, you already approved WF-1; it needs 2 different people"
        assert service_of(engine).get_run(1).status == "waiting_approval"
        second = (await room.post("tess", "!workflow approve 1")).replies[0].body
        assert "✅ WF-1 approved by sam, tess." in second and "went" in second
    finally:
        await engine.close()
