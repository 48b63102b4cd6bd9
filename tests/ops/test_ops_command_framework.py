"""The command framework: typed arguments, usage errors, subcommands, permissions and !help."""

from __future__ import annotations

from pathlib import Path

import pytest

from hololoom_core.engine import Engine
from hololoom_core.engine.arguments import DURATION, USER, Arg, CommandError, parse_arguments, parse_duration
from hololoom_core.engine.commands import CommandContext, CommandResult
from hololoom_core.events import CommandHandled
from tests.ops.ops_helpers import make_config, reply_text, sayer


def test_parse_positional_optional_greedy_and_options() -> None:
    args = [Arg("service"), Arg("replicas", int, default=1), Arg("timeout", DURATION, default=60.0, option=True)]
    assert parse_arguments(args, "api") == {"service": "api", "replicas": 1, "timeout": 60.0}
    assert parse_arguments(args, "api 3 --timeout 2m") == {"service": "api", "replicas": 3, "timeout": 120.0}
    assert parse_arguments(args, "--timeout=1h30m api") == {"service": "api", "replicas": 1, "timeout": 5400.0}
    greedy = [Arg("who", USER), Arg("text", greedy=True)]
    assert parse_arguments(greedy, '@bob:example.org  fix the "pool"  size') == {
        "who": "@bob:example.org", "text": 'fix the "pool"  size'}
    assert parse_arguments(greedy, "@bob 'quoted whole'") == {"who": "bob", "text": "quoted whole"}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "missing SERVICE"),
        ("api x", "REPLICAS must be a whole number, got 'x'"),
        ("api 2 3", "unexpected argument(s) '3'"),
        ("api --timeout", "option --timeout needs a value"),
        ("api --timeout soon", "--timeout must be a duration"),
        ("api --colour red", "unknown option --colour (known: --timeout)"),
    ],
)
def test_usage_errors_name_the_argument(raw: str, problem: str) -> None:
    args = [Arg("service"), Arg("replicas", int, default=1), Arg("timeout", DURATION, default=60.0, option=True)]
    with pytest.raises(CommandError) as caught:
        parse_arguments(args, raw)
    assert problem in str(caught.value)


def test_choices_and_durations() -> None:
    role = [Arg("role", choices=("commander", "scribe", "comms"))]
    assert parse_arguments(role, "SCRIBE") == {"role": "scribe"}
    with pytest.raises(CommandError, match="must be one of commander, scribe, comms, got 'chef'"):
        parse_arguments(role, "chef")
    assert parse_duration("90") == 90.0
    assert parse_duration("1d2h") == 93600.0
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


async def test_typed_command_through_the_pipeline(engine: Engine) -> None:
    seen: list[dict] = []

    @engine.commands.command("deploy", help="Deploy a service.", aliases=("ship",),
                             args=[Arg("service", help="what to deploy"), Arg("replicas", int, default=1)])
    async def deploy(context: CommandContext) -> str:
        seen.append(dict(context.params))
        return f"deploying {context.params['service']} x{context.params['replicas']}"

    say = sayer(engine)
    assert reply_text(await say("alice", "!ship api 3")) == "deploying api x3"
    assert seen == [{"service": "api", "replicas": 3}]
    text = reply_text(await say("alice", "!deploy api three"))
    assert text == "REPLICAS must be a whole number, got 'three'. Usage: `!deploy SERVICE [REPLICAS]`"
    assert len(seen) == 1  # the handler never ran on bad input
    help_text = reply_text(await say("alice", "!help deploy"))
    assert "`SERVICE` (text) — what to deploy" in help_text
    assert "`REPLICAS` (integer, optional) (default 1)" in help_text
    assert "Aliases: !ship" in help_text


async def test_old_style_commands_still_work(engine: Engine) -> None:
    @engine.commands.command("echo", help="Say it back.", usage="echo TEXT")
    async def echo(context: CommandContext) -> CommandResult:
        if not context.argv:
            raise CommandError("nothing to echo")
        return CommandResult(" ".join(context.argv))

    say = sayer(engine)
    assert reply_text(await say("bob", "!echo a b")) == "a b"
    assert reply_text(await say("bob", "!echo")) == "nothing to echo. Usage: `!echo TEXT`"


async def test_subcommands_and_suggestions(engine: Engine) -> None:
    @engine.commands.command("svc restart", help="Restart a service.", args=[Arg("service")])
    async def restart(context: CommandContext) -> str:
        return f"restarted {context.params['service']}"

    say = sayer(engine)
    assert reply_text(await say("bob", "!svc restart api")) == "restarted api"
    assert "Did you mean `!svc restart`?" in reply_text(await say("bob", "!svc restrat api"))
    assert "`!svc restart SERVICE` — Restart a service." in reply_text(await say("bob", "!svc"))
    assert "Did you mean `!svc`?" in reply_text(await say("bob", "!scv restart api"))


async def test_permissions_filter_help_and_refuse(tmp_path: Path) -> None:
    config = make_config(tmp_path, acl={"permissions": {"deploy": ["alice", "@sre-*"]}},
                         bot={"admins": ["root"]})
    engine = Engine(config)
    try:
        @engine.commands.command("deploy", help="Deploy.", args=[Arg("service")], permission="deploy")
        async def deploy(context: CommandContext) -> str:
            return "ok " + context.params["service"]

        @engine.commands.command("ops nuke", help="Remove everything.", admin_only=True)
        async def nuke(context: CommandContext) -> str:
            return "gone"

        say = sayer(engine)
        handled: list[CommandHandled] = []
        engine.bus.subscribe(lambda event: handled.append(event) if isinstance(event, CommandHandled) else None)
        assert reply_text(await say("alice", "!deploy api")) == "ok api"
        assert reply_text(await say("root", "!deploy api")) == "ok api"
        assert reply_text(await say("bob", "!deploy api")) == "Sorry, `deploy` needs the `deploy` permission."
        assert [(e.sender, e.ok, e.refused) for e in handled] == [("alice", True, False), ("root", True, False),
                                                                 ("bob", False, True)]
        assert reply_text(await say("bob", "!ops nuke")) == "Sorry, `ops nuke` is for admins only."
        assert reply_text(await say("root", "!ops nuke")) == "gone"
        bob_help = reply_text(await say("bob", "!help"))
        assert "!deploy" not in bob_help and "!ops" not in bob_help and "!ping" in bob_help
        alice_help = reply_text(await say("alice", "!help"))
        assert "!deploy SERVICE" in alice_help and "!ops" not in alice_help
        assert "!ops" in reply_text(await say("root", "!help"))
        assert "that you may run" in reply_text(await say("bob", "!help deploy"))
    finally:
        await engine.close()
