"""`!experiment list|show|start|stop`: run and inspect experiments from chat (and `hololoom say`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hololoom_core.engine.commands import CommandContext, CommandError
from hololoom_core.promptly.experiments import ExperimentError, ExperimentReport, ExperimentService

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

USAGE = "experiment list | show <name> | start <name> | stop [name]"


def interval_line(low: float, mean: float, high: float, width: int = 30) -> str:
    """A one-line chart of a credible interval on a 0..1 axis: `├──●──┤` placed on dots."""
    cells = ["·"] * (width + 1)
    left, right = round(low * width), round(high * width)
    for index in range(left, right + 1):
        cells[index] = "─"
    cells[left], cells[right] = "├", "┤"
    cells[round(mean * width)] = "●"
    return "".join(cells)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def report_markdown(report: ExperimentReport) -> str:
    """One experiment run as Markdown: status, a variant table and an interval chart."""
    status = report.status + (f" → **{report.winner}**" if report.winner else "")
    lines = [
        f"**Experiment `{report.name}`** — {status}, {report.pulls} answer(s)",
        report.description,
        "",
        "| variant | pulls | mean judge | mean reward | posterior | 95% interval | P(best) |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for v in report.variants:
        judge = "—" if v.mean_judge is None else f"{v.mean_judge:.2f}"
        reward = "—" if v.mean_reward is None else f"{v.mean_reward:.2f}"
        lines.append(f"| {v.name} | {v.pulls} | {judge} | {reward} | {v.posterior_mean:.2f} | "
                     f"{v.low:.2f}–{v.high:.2f} | {v.probability_best:.1%} |")
    width = max(len(v.name) for v in report.variants) if report.variants else 0
    chart = [f"{v.name:<{width}} {interval_line(v.low, v.posterior_mean, v.high)} {v.posterior_mean:.2f}"
             for v in report.variants]
    lines += ["", "```", f"{'':<{width}} 0{'':<28}1", *chart, "```"]
    rule = (f"Promotion: P(best) ≥ {report.promote_probability:.0%}, the winner with ≥ {report.min_samples} "
            f"answers and every variant with ≥ {report.min_samples_each}.")
    lines.append(rule)
    promoted = [e for e in report.events if e["kind"] == "promoted"]
    if promoted:
        event = promoted[-1]
        lines.append(f"Promoted {event.get('winner')} at {_when(event['ts'])} "
                     f"(P(best) {float(event.get('probability_best', 0)):.1%}).")
    return "\n".join(line for line in lines if line is not None)


def install_experiment_command(engine: Engine, service: ExperimentService, enabled: bool = True) -> None:
    """Register the `experiment` command (start refuses when `features.self_improving` is off)."""
    prefix = engine.config.bot.command_prefix

    @engine.commands.command("experiment", help="List, show, start or stop prompt experiments (A/B tests).",
                             usage=USAGE, aliases=("experiments", "exp"), group="quality")
    async def experiment(context: CommandContext) -> str:
        argv = context.argv
        action = argv[0].lower() if argv else "list"
        try:
            if action == "list":
                return list_markdown(service, prefix)
            if action == "show":
                name = argv[1] if len(argv) > 1 else (service.active() or {}).get("name")
                if not name:
                    raise CommandError("Name an experiment to show (none is active)")
                report = service.report_by_name(name)
                if report is None:
                    raise CommandError(f"No run of experiment `{name}` yet; start it with `{prefix}experiment start {name}`")
                return report_markdown(report)
            if action == "start":
                if not enabled:
                    raise CommandError("Experiments are switched off (features.self_improving: false)")
                if len(argv) < 2:
                    raise CommandError("Name the experiment to start")
                report = service.start(argv[1], by=context.user)
                return f"Started experiment `{report.name}`: answers are now assigned by Thompson sampling.\n\n" + \
                    report_markdown(report)
            if action == "stop":
                report = service.stop(argv[1] if len(argv) > 1 else None, by=context.user)
                return f"Stopped experiment `{report.name}`; answers use the default configuration again.\n\n" + \
                    report_markdown(report)
        except ExperimentError as exc:
            raise CommandError(str(exc)[:1].upper() + str(exc)[1:])
        raise CommandError(f"Unknown action `{action}`; use list, show, start or stop")


def list_markdown(service: ExperimentService, prefix: str = "!") -> str:
    """Every defined experiment with the status of its newest run."""
    lines = ["**Experiments**", "", "| name | status | answers | winner | description |", "|---|---|---:|---|---|"]
    for name, definition in sorted(service.definitions().items()):
        report = service.report_by_name(name)
        status = report.status if report else "not started"
        pulls = str(report.pulls) if report else "0"
        winner = (report.winner or "—") if report else "—"
        lines.append(f"| {name} | {status} | {pulls} | {winner} | {definition.description} |")
    lines.append(f"\nStart one with `{prefix}experiment start <name>`; details with `{prefix}experiment show <name>`.")
    return "\n".join(lines)
