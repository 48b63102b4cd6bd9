"""Installs the self-improving loop: its tables, the configuration slot, observers and `!improve status`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hololoom_core.engine.capabilities import Capability
from hololoom_core.engine.commands import CommandContext, CommandError
from hololoom_core.improving.loop import ImprovementLoop
from hololoom_core.improving.store import IMPROVING_V1
from hololoom_core.promptly.experiments import ExperimentService

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


def status_markdown(status: dict[str, Any]) -> str:
    """`!improve status` as Markdown: the switch, the running experiment, the timeline and learned patterns."""
    lines = [f"**Self-improving loop** — {'on' if status['enabled'] else 'off (features.self_improving: false)'}"]
    experiment = status.get("experiment")
    lines.append(f"Running: `{experiment['name']}` for {experiment['question_type']} questions" if experiment
                 else "Running: no experiment")
    lines += ["", "**Timeline**"]
    timeline = status.get("timeline") or []
    for event in timeline[-12:]:
        when = datetime.fromtimestamp(event["ts"], tz=UTC).strftime("%m-%d %H:%M")
        lines.append(f"- {when} **{event['kind']}** {event['summary']}")
    if not timeline:
        lines.append("- nothing yet: the loop needs answers to judge")
    lines += ["", "**Learned patterns**"]
    lines += [f"- {p}" for p in status.get("patterns") or []] or ["- none yet"]
    return "\n".join(lines)


class ImprovingCapability(Capability):
    """The self-improving loop on top of Promptly's experiments; provides `ImprovementLoop`."""

    name = "improving"
    needs = ("promptly",)
    migrations = {"improving": [IMPROVING_V1]}

    def install(self, engine: Engine) -> None:
        """Fill the configuration slot with the loop's chooser and register its observers and command."""
        loop = ImprovementLoop(engine, engine.capability(ExperimentService))
        if loop.enabled:
            engine.answer_path.choose_configuration = loop.choose
            engine.answer_path.observers.append(loop.observe_answer)
            engine.feedback_observers.append(loop.observe_feedback)
        engine.provide(loop)
        engine.overview_panels["improving"] = lambda _engine: loop.status()

        @engine.commands.command("improve", help="The self-improving loop: its timeline and learned patterns.",
                                 usage="improve status", group="quality")
        async def improve(context: CommandContext) -> str:
            action = context.argv[0].lower() if context.argv else "status"
            if action != "status":
                raise CommandError(f"Unknown action `{action}`; use `improve status`")
            return status_markdown(loop.status())
