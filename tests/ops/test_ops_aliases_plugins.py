"""YAML aliases (StackStorm style) and plugin discovery from a folder and from entry points."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hololoom_core.engine import Engine
from hololoom_core.ops.commands.aliases import (
    AliasCommands,
    WorkflowStarter,
    compile_format,
    parse_alias_file,
)
from hololoom_core.ops.commands.plugins import PluginReport
from hololoom_core.ops.incidents.service import IncidentService
from tests.ops.ops_helpers import make_config, reply_text, sayer

ALIASES = """\
aliases:
  - name: restart-service
    help: Restart a service through the restart workflow.
    formats:
      - "restart {{service}} on {{host=all}}"
    workflow: restart-service
    args: {reason: "asked in chat by {{user}}"}
    reply: "Restarting {{service}} on {{host}}: {{result}}"
  - name: page-sev1
    formats: ["sev1 {{title}}"]
    command: "incident declare {{title}} sev1"
    reply: "Paged. {{result}}"
  - name: wrong-start
    formats: ["{{x}} oops"]
    workflow: x
  - name: deploy
    formats: ["deploy {{service}} {{version}}"]
    workflow: deploy
    permission: deploy
"""


class RecordingWorkflows:
    """Stands in for the workflow engine's documented interface and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def start_run(self, name: str, args: dict[str, str], *, user: str, room_id: str,
                        thread_id: str | None) -> str:
        self.calls.append({"name": name, "args": dict(args), "user": user, "room": room_id})
        return f"run #{len(self.calls)} of `{name}` started"

    def waiting_for_approval(self) -> list[dict[str, Any]]:
        return []


def test_format_compilation() -> None:
    compiled = compile_format("restart {{service}} on {{host=all}}")
    assert compiled.command == "restart" and compiled.display == "restart SERVICE [on HOST]"
    both = compiled.regex.match("restart nginx on web-01 and web-02")
    assert both is not None and both.groupdict() == {"service": "nginx", "host": "web-01 and web-02"}
    quoted = compiled.regex.match('restart "api gateway"')
    assert quoted is not None and quoted.groupdict() == {"service": '"api gateway"', "host": None}
    assert compiled.regex.match("restart") is None
    for bad, problem in [("{{x}} go", "must start with a command word"), ("go {{x}} {{x}}", "twice"),
                         ("go {{x", "malformed placeholder"), ("go {{user}}", "reserved")]:
        with pytest.raises(ValueError, match=problem):
            compile_format(bad)


def test_malformed_files_give_one_line_each() -> None:
    loaded = parse_alias_file(ALIASES, "ops.yaml")
    assert [alias.name for alias in loaded.aliases] == ["restart-service", "page-sev1", "deploy"]
    assert loaded.problems == ["ops.yaml:13: alias 'wrong-start': format '{{x}} oops' must start with a command "
                               "word (letters, digits, - or _)"]
    broken = parse_alias_file('aliases:\n  - name: a\n    formats: ["x {{y}}"\n', "broken.yaml")
    assert broken.aliases == [] and len(broken.problems) == 1
    assert broken.problems[0].startswith("broken.yaml:4: YAML syntax error")
    typo = parse_alias_file("name: a\nformat: ['x']\nworkflow: w\n", "typo.yaml")
    assert typo.problems == ["typo.yaml:1: unknown key 'format' (known: admin_only, args, command, description, "
                             "formats, group, help, name, permission, reply, workflow)"]
    unknown_field = parse_alias_file("name: a\nformats: ['x {{y}}']\ncommand: ping\nreply: '{{z}}'\n", "f.yaml")
    assert "reply uses {{z}}, which no format or arg defines" in unknown_field.problems[0]


async def test_aliases_run_workflows_and_commands(tmp_path: Path) -> None:
    aliases_dir = tmp_path / "aliases"
    aliases_dir.mkdir()
    (aliases_dir / "ops.yaml").write_text(ALIASES)
    (aliases_dir / "zz-broken.yaml").write_text("aliases: [\n")
    engine = Engine(make_config(tmp_path, ops={"aliases_dir": str(aliases_dir)},
                                acl={"permissions": {"deploy": ["alice"]}}, workflows={"enabled": False}))
    try:
        say = sayer(engine)
        missing = reply_text(await say("alice", "!restart nginx on web-1"))
        assert missing == ("Workflows are not installed, so alias `restart-service` cannot start workflow "
                           "`restart-service` (service=nginx, host=web-1, reason=asked in chat by alice).")
        workflows = RecordingWorkflows()
        engine.provide(workflows, as_type=WorkflowStarter)
        assert reply_text(await say("alice", "!restart nginx")) == (
            "Restarting nginx on all: run #1 of `restart-service` started")
        assert workflows.calls[0] == {"name": "restart-service", "user": "alice", "room": "#ops",
                                      "args": {"service": "nginx", "host": "all", "reason": "asked in chat by alice"}}
        paged = reply_text(await say("bob", "!sev1 payments are down"))
        assert paged.startswith("Paged. **INC-1 declared** (sev1): payments are down")
        incident = engine.capability(IncidentService).get("INC-1")
        assert incident is not None and incident.severity == "sev1"
        assert reply_text(await say("bob", "!deploy api 1.2")) == "Sorry, `deploy` needs the `deploy` permission."
        assert reply_text(await say("alice", "!deploy api 1.2")) == "run #2 of `deploy` started"
        assert "matches none of: `!deploy SERVICE VERSION`" in reply_text(await say("alice", "!deploy api"))
        listing = reply_text(await say("alice", "!aliases"))
        assert "**3 alias(es)**" in listing and "**2 problem(s)**" in listing
        assert "zz-broken.yaml:2: YAML syntax error" in listing
        assert "`!restart SERVICE [on HOST]`" in reply_text(await say("alice", "!help restart"))
    finally:
        await engine.close()


def test_alias_cannot_shadow_a_command(tmp_path: Path) -> None:
    aliases_dir = tmp_path / "aliases"
    aliases_dir.mkdir()
    (aliases_dir / "a.yaml").write_text("name: pong\nformats: ['ping {{x}}']\nworkflow: w\n")
    engine = Engine(make_config(tmp_path, ops={"aliases_dir": str(aliases_dir)}))
    problems = engine.capability(AliasCommands).problems
    assert len(problems) == 1 and "`ping` is already a command" in problems[0]
    ping = engine.commands.get("ping")
    assert ping is not None and ping.help.startswith("Check that the bot is alive")


PLUGIN = """\
from hololoom_core.engine.commands import Arg


def install(engine):
    @engine.commands.command("greet", help="Greet someone.", args=[Arg("name"), Arg("times", int, default=1)])
    async def greet(context):
        return " ".join([f"hello {context.params['name']}"] * context.params["times"])
"""


async def test_plugins_from_a_folder(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "greet.py").write_text(PLUGIN)
    (plugins / "failing.py").write_text("def install(engine):\n    raise RuntimeError('no token configured')\n")
    (plugins / "syntax.py").write_text("x = (\n")
    (plugins / "nothing.py").write_text("VALUE = 1\n")
    engine = Engine(make_config(tmp_path, ops={"plugins_dir": str(plugins), "entry_point_plugins": False}))
    try:
        report = engine.capability(PluginReport)
        assert list(report.loaded) == ["greet"]
        assert report.problems == [
            f"{plugins / 'failing.py'}:2: plugin 'failing' failed (RuntimeError: no token configured)",
            f"{plugins / 'nothing.py'}: no install(engine) function; add one that registers commands",
            f"{plugins / 'syntax.py'}:1: plugin 'syntax' failed (SyntaxError: '(' was never closed)",
        ]
        say = sayer(engine)
        assert reply_text(await say("bob", "!greet ann 2")) == "hello ann hello ann"
        assert "TIMES must be a whole number" in reply_text(await say("bob", "!greet ann twice"))
    finally:
        await engine.close()


async def test_plugins_from_an_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "hololoom_demo_plugin").mkdir(parents=True)
    (site / "hololoom_demo_plugin" / "__init__.py").write_text(PLUGIN.replace('"greet"', '"wave"'))
    dist = site / "hololoom_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hololoom-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [hololoom.plugins]
        wave = hololoom_demo_plugin
        broken = hololoom_demo_plugin_missing:install
        """))
    monkeypatch.syspath_prepend(str(site))
    engine = Engine(make_config(tmp_path))
    try:
        report = engine.capability(PluginReport)
        assert report.loaded == {"wave": "entry point wave = hololoom_demo_plugin"}
        assert report.problems == ["entry point broken = hololoom_demo_plugin_missing:install: failed "
                                   "(ModuleNotFoundError: No module named 'hololoom_demo_plugin_missing')"]
        assert reply_text(await sayer(engine)("bob", "!wave zoe")) == "hello zoe"
    finally:
        await engine.close()
        sys.modules.pop("hololoom_demo_plugin", None)
