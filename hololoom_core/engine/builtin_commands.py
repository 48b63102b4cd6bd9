"""Commands every installation has: help, ping and runbook."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from hololoom_core.engine.capabilities import Capability
from hololoom_core.engine.commands import CommandContext, CommandError

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class BuiltinCommands(Capability):
    """The commands every installation has: `help`, `ping` and `runbook`."""

    name = "builtin"

    def install(self, engine: Engine) -> None:
        """Register `help`, `ping` and `runbook`."""
        install_builtin_commands(engine)


def install_builtin_commands(engine: Engine) -> None:
    """Register `help`, `ping` and `runbook`."""
    install_runbook_command(engine)
    registry = engine.commands
    prefix = engine.config.bot.command_prefix

    @registry.command("help", help="List the commands you may run, or show one command's help.", usage="help [command]")
    async def help_command(context: CommandContext) -> str:
        allowed = [spec for spec in registry.all() if registry.may_run(engine, spec, context.user, context.room_id)]
        if context.argv:
            name = " ".join(word.lstrip(prefix) for word in context.argv[:2])
            spec = registry.get(name) or registry.get(name.split(" ")[0])
            top = registry.get(spec.parent) if spec is not None and spec.parent else spec
            if spec is None or top not in allowed or not registry.may_run(engine, spec, context.user, context.room_id):
                first = name.split(" ")[0]
                suggestions = [s for s in registry.suggest(first) if registry.get(s) in allowed]
                hint = (" Did you mean " + ", ".join(f"`{prefix}{s}`" for s in suggestions) + "?") if suggestions else ""
                raise CommandError(f"No command `{prefix}{name}` that you may run.{hint}")
            return registry.describe(engine, spec, context.user, context.room_id, prefix)
        groups: dict[str, list[str]] = {}
        for spec in allowed:
            groups.setdefault(spec.group, []).append(f"- `{spec.usage_with(prefix)}` — {spec.help}")
        lines = ["**Commands you can run**"]
        for group in sorted(groups):
            if len(groups) > 1:
                lines.append(f"\n_{group}_")
            lines.extend(groups[group])
        lines.append(f"\n`{prefix}help COMMAND` shows a command's arguments. "
                     f"Mention me (`@{engine.bot_name}`) with a question to get a structured answer.")
        return "\n".join(lines)

    @registry.command("ping", help="Check that the bot is alive and how busy it has been.")
    async def ping(context: CommandContext) -> str:
        stats = engine.stats
        return f"pong — {stats.messages} messages stored, {stats.answers} answers given."


def runbook_text(engine: Engine, runbook_id: str | None) -> str:
    """The list of runbooks, or one runbook in full, as Markdown (shared by chat and CLI)."""
    if not runbook_id:
        lines = [f"**{len(engine.runbooks)} runbooks**"]
        lines += [f"- `{r.id}` — {r.title}" + (f" (package {r.origin})" if r.origin else "")
                  for r in sorted(engine.runbooks.runbooks.values(), key=lambda r: r.id)]
        return "\n".join(lines)
    runbook = engine.runbooks.get(runbook_id)
    if runbook is None:
        close = difflib.get_close_matches(runbook_id, list(engine.runbooks.runbooks), n=3, cutoff=0.6)
        close += [m.runbook.id for m in engine.runbooks.search(runbook_id, limit=3) if m.runbook.id not in close]
        hint = (" Closest: " + ", ".join(f"`{name}`" for name in close[:3])) if close else ""
        raise CommandError(f"No runbook `{runbook_id}`.{hint}")

    def numbered(items: tuple[str, ...]) -> str:
        return "\n".join(f"{n}. {item}" for n, item in enumerate(items, start=1))

    origin = f", from package {runbook.origin}" if runbook.origin else ""
    parts = [
        f"### {runbook.title} (`{runbook.id}`, usually {runbook.severity_hint}{origin})",
        runbook.summary,
        "**Symptoms**\n" + "\n".join(f"- {s}" for s in runbook.symptoms) if runbook.symptoms else "",
        "**Triage**\n" + numbered(runbook.triage) if runbook.triage else "",
        "**Remediate**\n" + numbered(runbook.remediation) if runbook.remediation else "",
        "**Verify**\n" + numbered(runbook.verify) if runbook.verify else "",
        f"**Escalate:** {runbook.escalate}" if runbook.escalate else "",
    ]
    return "\n\n".join(part for part in parts if part)  # a Markdown runbook may leave sections out


def install_runbook_command(engine: Engine) -> None:
    """Register `runbook`."""

    @engine.commands.command("runbook", help="List the runbooks, or show one in full.", usage="runbook [id]",
                             aliases=("runbooks",))
    async def runbook(context: CommandContext) -> str:
        return runbook_text(engine, context.argv[0] if context.argv else None)
