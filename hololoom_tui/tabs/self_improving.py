"""The Self-Improving tab: the loop's timeline and learned patterns, the last tune and simulation, prompt
experiments live (variants, pulls, posteriors, P(best), promotions) and judge scores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Group, JustifyMethod
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from hololoom_tui.format import bar
from hololoom_tui.tabs.base import OverviewTab
from hololoom_tui.widgets.fitted_table import FittedTable

if TYPE_CHECKING:
    from hololoom_core.engine.overview import EngineOverview

CHART_WIDTH = 40


def interval_chart(low: float, mean: float, high: float, best: bool, width: int = CHART_WIDTH) -> Text:
    """A credible interval on a 0..1 axis: dots for the axis, a bar for the interval, a dot for the mean."""
    left, right, middle = (max(0, min(width, round(v * width))) for v in (low, high, mean))
    style = "bold green" if best else "cyan"
    text = Text()
    for cell in range(width + 1):
        if cell == middle:
            text.append("●", style="bold white" if best else "white")
        elif left <= cell <= right:
            text.append("━", style=style)
        else:
            text.append("·", style="dim")
    return text


def axis_line(width: int = CHART_WIDTH) -> Text:
    """The scale under the charts: 0, 0.5 and 1."""
    half = width // 2
    return Text("0" + " " * (half - 1) + "0.5" + " " * (width - half - 3) + "1", style="dim")


def run_table(run: Any, *, figures: bool = True) -> Table:
    """One experiment run: a row per variant with its interval chart (and its figures, unless shown elsewhere)."""
    best = max(run.variants, key=lambda v: v.probability_best).name if run.variants else None
    status = run.status + (f" → {run.winner}" if run.winner else "")
    title = f"[b]{run.name}[/b] — {status} · {run.pulls} answer(s)" if figures else "Posterior means, 95% intervals"
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    columns: list[tuple[str, JustifyMethod]] = [("variant", "left")]
    if figures:
        columns += [("pulls", "right"), ("judge", "right"), ("reward", "right")]
    columns += [("posterior (95% interval)", "left")]
    if figures:
        columns += [("mean", "right"), ("P(best)", "right")]
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=True)
    for v in run.variants:
        chart = interval_chart(v.low, v.posterior_mean, v.high, v.name == best and run.pulls > 0)
        if not figures:
            table.add_row(v.name, chart)
            continue
        table.add_row(
            v.name, str(v.pulls), "—" if v.mean_judge is None else f"{v.mean_judge:.2f}",
            "—" if v.mean_reward is None else f"{v.mean_reward:.2f}", chart,
            f"{v.posterior_mean:.2f} [{v.low:.2f}, {v.high:.2f}]", f"{v.probability_best:.1%}",
        )
    table.add_row(*([""] * (4 if figures else 1)), axis_line(), *([""] * (2 if figures else 0)))
    return table


METRIC_LABELS = (("quality", "quality (judge)", "{:.2f}"), ("retry_rate", "retry rate", "{:.0%}"),
                 ("resolution_minutes", "resolution (min)", "{:.1f}"), ("satisfaction", "satisfaction (1-5)", "{:.2f}"))


def loop_text(data: dict[str, Any] | None) -> str:
    """The loop's switch, running experiment, last timeline steps and learned patterns, as Rich markup."""
    if not data:
        return "[dim]The self-improving loop is not installed in this engine.[/dim]"
    state = "[b green]on[/b green]" if data.get("enabled") else "[b red]off[/b red] (features.self_improving: false)"
    experiment = data.get("experiment")
    running = (f"running [b]{experiment['name']}[/b] for {experiment['question_type']} questions" if experiment
               else "no experiment running")
    lines = [f"Self-improving loop {state} · {running}"]
    timeline = data.get("timeline") or []
    for event in timeline[-4:]:
        when = datetime.fromtimestamp(event["ts"], tz=UTC).strftime("%m-%d %H:%M")
        lines.append(f"  {when} [b]{event['kind']}[/b] {escape(event['summary'])}")
    if not timeline:
        lines.append("  [dim]No steps yet: the loop acts once it has judged enough answers of a type.[/dim]")
    patterns = data.get("patterns") or []
    lines.append("Learned: " + ("; ".join(escape(p) for p in patterns[:2]) if patterns else "[dim]nothing yet[/dim]"))
    return "\n".join(lines)


def results_text(data: dict[str, Any] | None) -> str:
    """The last simulation's before/after table and the last tune's summary, as Rich markup."""
    if not data:
        return ""
    lines: list[str] = []
    simulation = data.get("simulation")
    if simulation:
        mode = "loop on" if simulation.get("improve", True) else "loop off"
        lines.append(f"Last simulation (seed {simulation['seed']}, {simulation['questions']} questions, {mode}; "
                     f"first vs last {simulation['window']}, 95% intervals):")
        for key, label, fmt in METRIC_LABELS:
            before, after = simulation["before"][key], simulation["after"][key]
            lines.append(f"  {label:<19} {fmt.format(before['mean']):>6} [{fmt.format(before['low'])}–"
                         f"{fmt.format(before['high'])}] → {fmt.format(after['mean']):>6} [{fmt.format(after['low'])}–"
                         f"{fmt.format(after['high'])}]")
    else:
        lines.append("[dim]No simulation yet: `hololoom simulate` measures the bot on the question bank.[/dim]")
    tune = data.get("tune")
    if tune:
        best = tune["best"]
        line = (f"Last tune: {best['retrieval']} → {best['agent']} → {best['loop']} → {best['prompt']} "
                f"({tune['evaluations']} evaluations, {tune['leaves_visited']}/{tune['leaves']} configurations")
        if "share_of_best" in tune:
            line += f"; {tune['share_of_best']:.1%} of the exhaustive best with {tune['share_of_evaluations']:.0%} of its evaluations"
        lines.append(line + ")")
    else:
        lines.append("[dim]No tune yet: `hololoom tune --budget N` searches configurations.[/dim]")
    return "\n".join(lines)


class SelfImprovingTab(OverviewTab):
    """Experiments with their posteriors and promotions, then judge criteria means over recent answers."""

    TITLE = "Self-Improving — the loop, experiments and judge scores"
    NOTE = ("The loop launches experiments itself when a question type is weak (`!improve status`); operators "
            "start one with `!experiment start <name>`. Answers are assigned by Thompson sampling; a variant is "
            "promoted when its probability to be best passes the threshold with enough answers per variant.")

    def compose_body(self) -> ComposeResult:
        yield Static("", id="si-machinery")
        yield Static("", id="si-loop")
        yield Static("", id="si-results")
        yield Static("", id="si-experiment-summary")
        variants: FittedTable = FittedTable(id="si-variants", cursor_type="none", zebra_stripes=True)
        variants.add_columns("variant", "pulls", "mean judge", "mean reward", "posterior", "95% interval", "P(best)")
        yield variants
        yield Static("", id="si-experiments")
        yield Static("", id="si-promotions")
        yield Static("", id="si-summary")
        table: FittedTable = FittedTable(id="si-criteria", cursor_type="none", zebra_stripes=True)
        table.add_columns("criterion", "mean", "")
        yield table

    def render_overview(self, overview: EngineOverview) -> None:
        improving = overview.extra.get("improving")
        self.query_one("#si-loop", Static).update(loop_text(improving))
        self.query_one("#si-results", Static).update(results_text(improving))
        self._render_experiments(overview.extra.get("promptly"))
        answers = overview.stats.get("answers", 0)
        summary = self.query_one("#si-summary", Static)
        table = self.query_one("#si-criteria", DataTable)
        table.clear()
        if not overview.criteria_means:
            summary.update("No answers judged yet. Ask the bot something in Chat.")
            return
        summary.update(f"Mean judge score per criterion over the last {min(answers, 500)} answer(s):")
        for name, mean in sorted(overview.criteria_means.items()):
            table.add_row(name, f"{mean:.2f}", bar(mean))

    def _render_experiments(self, data: dict[str, Any] | None) -> None:
        machinery = self.query_one("#si-machinery", Static)
        summary = self.query_one("#si-experiment-summary", Static)
        variants = self.query_one("#si-variants", DataTable)
        charts = self.query_one("#si-experiments", Static)
        promotions = self.query_one("#si-promotions", Static)
        variants.clear()
        if not data:
            machinery.update("[dim]The Promptly layer is not installed in this engine.[/dim]")
            summary.update("")
            charts.update("")
            promotions.update("")
            return
        machinery.update(f"Loop [b]{data.get('loop')}[/b] · judge [b]{data.get('judge')}[/b] · "
                         f"spec [b]{data.get('spec')}[/b]")
        runs = data.get("runs") or []
        if not runs:
            names = ", ".join(sorted(data.get("definitions") or {})) or "none"
            summary.update(f"No experiment has run yet. Defined: {names}.")
            charts.update("")
            promotions.update("")
            return
        current = next((r for r in runs if r.status in ("running", "promoted")), runs[0])
        rule = (f"promotion at P(best) ≥ {data.get('promote_probability', 0.95):.0%}, winner ≥ "
                f"{data.get('min_samples')} answers, each variant ≥ {data.get('min_samples_each')}")
        summary.update(f"[b]{current.name}[/b] is {current.status}"
                       + (f" → [b green]{current.winner}[/b green]" if current.winner else "")
                       + f" · {current.pulls} answer(s) · {rule}")
        for v in current.variants:
            variants.add_row(
                v.name, str(v.pulls), "—" if v.mean_judge is None else f"{v.mean_judge:.2f}",
                "—" if v.mean_reward is None else f"{v.mean_reward:.2f}", f"{v.posterior_mean:.3f}",
                f"{v.low:.2f}–{v.high:.2f}", f"{v.probability_best:.1%}",
            )
        # The current run's figures are in the table above; its chart, then earlier runs in full.
        earlier = [run for run in runs if run is not current][:2]
        charts.update(Group(run_table(current, figures=False), *(run_table(run) for run in earlier)))
        events = [(run.name, event) for run in runs for event in run.events if event["kind"] == "promoted"]
        if events:
            lines = [f"{datetime.fromtimestamp(e['ts'], tz=UTC):%Y-%m-%d %H:%M} [b]{name}[/b]: "
                     f"{e.get('winner')} promoted at P(best) {float(e.get('probability_best', 0)):.1%}"
                     for name, e in events[:5]]
            promotions.update("Promotions\n" + "\n".join(lines))
        else:
            promotions.update("[dim]No promotions yet.[/dim]")
