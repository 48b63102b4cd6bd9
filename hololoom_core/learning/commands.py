"""`!learning optout | optin | promote TOPIC | status`: consent and runbook candidates from chat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.commands import Arg, CommandContext, CommandError
from hololoom_core.learning.service import LearningError, TeamLearning

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


def status_markdown(learning: TeamLearning, prefix: str) -> str:
    """`!learning status`: consent settings, opt-outs, the last export and docs, candidates under review."""
    status = learning.status()
    lines = ["**Team learning**" + ("" if status["enabled"] else " — off (`features.team_learning: false`)"),
             f"- Quality bar: {status['min_quality']:.2f}; simulated rooms and CLI "
             f"{'in' if status['local_rooms'] else 'out'}, Matrix rooms {'in' if status['matrix_rooms'] else 'out'}"
             + (f", {len(status['rooms'])} room setting(s)" if status["rooms"] else ""),
             f"- People opted out: {status['opted_out']} (`{prefix}learning optout` / `{prefix}learning optin`)"]
    export = status["last_export"]
    if export:
        counts = export["counts"]
        lines.append(f"- Last export: {export['files'].get('train.jsonl', 0)} example(s), "
                     f"{export['files'].get('preference.jsonl', 0)} preference pair(s), {counts['duplicate']} "
                     f"near-duplicate(s) collapsed, {counts['excluded']} excluded → `{export['directory']}`")
    else:
        lines.append("- No export yet: `hololoom learn export DIR`")
    lines.append(f"- Topic pages: {status['topics']}; runbook candidates under review: {status['candidates']}")
    return "\n".join(lines)


def install_learning_commands(engine: Engine, learning: TeamLearning) -> None:
    """Register `!learning` and its subcommands."""
    registry = engine.commands
    prefix = engine.config.bot.command_prefix
    registry.group("learning", help="Team learning: opt out or in, promote a best-practice page, status.",
                   group="quality")

    @registry.command("learning optout", help="Stop the team-learning export from using your questions.")
    async def optout(context: CommandContext) -> str:
        """Record the opt-out of the person who ran it."""
        if learning.opt_out(context.user, context.room_id):
            return (f"{context.user}: your questions will not be used for training data or docs from now on "
                    f"(the next export leaves them out). `{prefix}learning optin` undoes this.")
        return f"{context.user}: you had already opted out."

    @registry.command("learning optin", help="Allow the team-learning export to use your questions again.")
    async def optin(context: CommandContext) -> str:
        """Withdraw the opt-out of the person who ran it."""
        if learning.opt_in(context.user):
            return f"{context.user}: your rated questions may be used for training data and docs again."
        return f"{context.user}: you had not opted out."

    @registry.command("learning promote", help="Turn a generated best-practice page into a runbook candidate "
                      "(stored for review; it answers nothing until reviewed).",
                      args=[Arg("topic", help="the topic's slug, as in the docs index (e.g. http-5xx)")])
    async def promote(context: CommandContext) -> str:
        """Draft the runbook candidate of a generated topic page."""
        try:
            candidate = learning.promote(context.params["topic"], context.user)
        except LearningError as exc:
            raise CommandError(str(exc)) from None
        return (f"Runbook candidate `{candidate.id}` stored for review at `{candidate.path}`. It is not used to "
                "answer until someone reviews it and moves it into a runbook directory.")

    @registry.command("learning status", help="Consent settings, opt-outs, the last export and the topic pages.")
    async def status(context: CommandContext) -> str:
        """Show consent, opt-outs, the last export and the pages."""
        return status_markdown(learning, prefix)
