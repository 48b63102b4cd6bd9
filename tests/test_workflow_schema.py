"""Workflow schema: shipped workflows load, bad files get one line naming file and line, the rest keep working."""

from __future__ import annotations

from pathlib import Path

import pytest

from hololoom_core.ops.workflows.expressions import ExpressionError, parse_expression, parse_template
from hololoom_core.ops.workflows.library import SHIPPED_DIRECTORY, WorkflowLibrary
from hololoom_core.ops.workflows.schema import WorkflowSchemaError, parse_workflow
from hololoom_core.ops.workflows.service import WorkflowService
from hololoom_core.transport.local import LocalRoom
from tests.workflow_support import ManualClock, make_config, start_engine, write_workflow

REQUIRED_SHIPPED = {"incident-kickoff", "deploy-rollback", "oncall-handoff", "standup-digest", "security-containment"}


def test_shipped_workflows_all_load() -> None:
    library = WorkflowLibrary.load([])
    assert library.problems == []
    assert REQUIRED_SHIPPED <= set(library.definitions)
    assert len(list(SHIPPED_DIRECTORY.glob("*.yaml"))) == len(library)


BAD_WORKFLOWS = [
    ("name: x\nsteps:\n  - say: hi\n  - sya: oops\n", 4, "unknown step type 'sya' (did you mean 'say'?)"),
    ("name: x\nsteps:\n  - say: hi\n  - if: \"a ==\"\n    then:\n      - say: b\n", 4, "condition: the expression ends"),
    ("name: x\nsteps:\n  - if: a\n", 3, "needs a 'then' list"),
    ("name: x\ntriggers:\n  - cron: \"61 * * * *\"\nsteps:\n  - say: hi\n", 3, "is not a cron schedule"),
    ("name: x\nsteps:\n  - ask: ok?\n    timout: 5m\n", 4, "unknown key 'timout' (did you mean 'timeout'?)"),
    ("name: x\nsteps:\n  - wait: 5 minutes\n", 3, "'5 minutes' is not a duration"),
    ("name: x\nsteps:\n  - say: \"{{ a + }}\"\n", 3, "unexpected character '+'"),
    ("name: x\nparams:\n  svc: {required: true}\ntriggers:\n  - cron: \"0 9 * * *\"\nsteps:\n  - say: hi\n", 5,
     "does not give required param(s) svc"),
    ("name: x\ntriggers:\n  - message: \"([unclosed\"\nsteps:\n  - say: hi\n", 3, "not a valid RE2 regular expression"),
    # a backreference could take exponential time on chat text: message patterns run on RE2, which refuses it
    ("name: x\ntriggers:\n  - message: \"(a+)\\\\1\"\nsteps:\n  - say: hi\n", 3, "backreferences and lookarounds"),
    ("name: x\nsteps:\n  - http:\n      method: POST\n", 3, "needs a url"),
    ("name: x\nsteps:\n  - incident: declare\n    severity: sev1\n", 3, "'declare' needs 'title'"),
    ("name: x\nsteps:\n  - shell: \"echo 'unbalanced\"\n", 3, "cannot split the command"),
    ("name: x\nsteps:\n  - say: hi\n    on_error: ignore\n", 4, "on_error must be one of stop, continue"),
    ("name: Bad Name\nsteps:\n  - say: hi\n", 1, "must be a lowercase slug"),
    ("name: x\nsteps: [\n", 3, "YAML syntax error"),
    ("name: x\ndescripton: typo\nsteps:\n  - say: hi\n", 2, "unknown key 'descripton' (did you mean 'description'?)"),
    ("name: x\nsteps:\n  - collect: insights\n    limit: 0\n", 4, "limit must be a whole number"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD_WORKFLOWS)
def test_schema_errors_name_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(WorkflowSchemaError) as caught:
        parse_workflow(text, "flows/x.yaml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"flows/x.yaml:{line}: "), message
    assert fragment in message


def test_if_else_compiles_to_jumps() -> None:
    definition = parse_workflow(
        "name: x\nsteps:\n  - if: \"a == 1\"\n    then:\n      - say: one\n    else:\n      - say: other\n"
        "  - say: after\n", "x.yaml")
    kinds = [(op.kind, op.label, op.target) for op in definition.program]
    assert kinds == [("branch", "1", 3), ("say", "1.then.1", None), ("jump", "1", 4), ("say", "1.else.1", None),
                     ("say", "2", None)]


def test_expressions_are_safe_and_small() -> None:
    variables = {"a": {"b": 2}, "items": ["x", "y"], "name": "Checkout-API"}
    assert parse_expression("a.b >= 2 and len(items) == 2 and lower(name) matches '^checkout'").truth(variables)
    assert parse_expression("'z' not in items or name contains 'API'").truth(variables)
    for hostile in ("__import__('os')", "a.b.__class__", "open('/etc/passwd')", "a.b * 2", "items[0]"):
        with pytest.raises(ExpressionError):
            parse_expression(hostile).evaluate(variables)
    with pytest.raises(ExpressionError, match="unknown variable 'missing'"):
        parse_expression("missing == 1").evaluate(variables)
    assert parse_template("{{ items }}").value(variables) == ["x", "y"]
    assert parse_template("n={{ a.b }}").render(variables) == "n=2"
    assert parse_template("{{ 'big' if a.b > 1 else 'small' }}/{{ 'x' if missing_ok else 'y' if a.b else 'z' }}").render(
        {**variables, "missing_ok": False}) == "big/y"


async def test_malformed_file_is_one_line_and_others_keep_working(tmp_path: Path) -> None:
    user_dir = tmp_path / "flows"
    bad = write_workflow(user_dir, "broken", "name: broken\nsteps:\n  - say: ok\n  - wiat: 5m\n")
    write_workflow(user_dir, "hello", "name: hello\nparams:\n  who: world\nsteps:\n  - say: \"hello {{ who }}\"\n")
    config = make_config(tmp_path, workflows={"directory": str(user_dir)})
    errors: list[str] = []
    engine = await start_engine(config, ManualClock())
    try:
        engine.bus.subscribe(lambda event: errors.append(getattr(event, "error", "")))
        service = engine.capability(WorkflowService)
        assert [str(problem) for problem in service.library.problems] == [
            f"{bad}:4: step 2 unknown step type 'wiat' (did you mean 'wait'?); one of: say, ask, set, if, wait, "
            "call, incident, http, shell, collect, fail"
        ]
        assert engine.status["workflows"]["state"] == "warn"
        room = LocalRoom(engine)
        listing = (await room.post("operator", "!workflow list")).replies[0].body
        assert f"- {bad}:4: step 2 unknown step type 'wiat'" in listing
        assert "`hello [who=world]`" in listing and "`deploy-rollback SERVICE" in listing
        reply = (await room.post("operator", "!workflow run hello who=team")).replies[0].body
        assert "hello team" in reply and "✔ WF-1 `hello` finished." in reply
    finally:
        await engine.close()


def test_duplicate_names_and_user_override(tmp_path: Path) -> None:
    user_dir = tmp_path / "flows"
    write_workflow(user_dir, "a", "name: standup-digest\ndescription: mine\nsteps:\n  - say: custom digest\n")
    write_workflow(user_dir, "b", "name: standup-digest\nsteps:\n  - say: second\n")
    library = WorkflowLibrary.load([user_dir])
    chosen = library.get("standup-digest")
    assert chosen is not None and chosen.description == "mine"
    [problem] = library.problems
    assert str(problem).startswith(f"{user_dir / 'b.yaml'}:1: workflow name 'standup-digest' is already used by")


def test_unknown_call_and_cycles_are_reported(tmp_path: Path) -> None:
    user_dir = tmp_path / "flows"
    write_workflow(user_dir, "p", "name: ping\nsteps:\n  - call: pong\n")
    write_workflow(user_dir, "q", "name: pong\nsteps:\n  - say: x\n  - call: ping\n  - call: nowhere\n")
    library = WorkflowLibrary.load([user_dir], shipped=False)
    lines = [str(problem) for problem in library.problems]
    assert f"{user_dir / 'q.yaml'}:5: calls unknown workflow 'nowhere'; that step will fail" in lines
    assert any(line.startswith(f"{user_dir / 'p.yaml'}:3: calls itself through ping → pong → ping") for line in lines)
    assert {"ping", "pong"} == set(library.definitions)


async def test_command_trigger_cannot_take_an_existing_command(tmp_path: Path) -> None:
    user_dir = tmp_path / "flows"
    path = write_workflow(user_dir, "h", "name: h\ntriggers:\n  - command: help\nsteps:\n  - say: mine\n")
    engine = await start_engine(make_config(tmp_path, workflows={"directory": str(user_dir)}), ManualClock())
    try:
        problems = [str(problem) for problem in engine.capability(WorkflowService).library.problems]
        assert problems == [f"{path}:3: command 'help' is already taken by another command; use "
                            "`workflow run h` instead"]
        reply = (await LocalRoom(engine).post("operator", "!help")).replies[0].body
        assert reply.startswith("**Commands you can run**")
    finally:
        await engine.close()
