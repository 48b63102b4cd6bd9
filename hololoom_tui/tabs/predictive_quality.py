"""The Predictive Quality tab: forecasts made before answering next to what happened, and how accurate they are."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from hololoom_tui.format import clock_time, latency_text, quality_text
from hololoom_tui.tabs.base import OverviewTab
from hololoom_tui.widgets.fitted_table import FittedTable

if TYPE_CHECKING:
    from hololoom_core.engine.overview import EngineOverview


def figure_text(value: float | None) -> str:
    """A figure with three decimals, or 'n/a' before it can be computed."""
    return "n/a" if value is None else f"{value:.3f}"


def summary_text(report: dict[str, Any]) -> str:
    """The headline figures and what they rest on."""
    figures = report["figures"]
    model = report["model"]
    if not report["applying"]:
        applying = "[b]not applied[/b] (features.predictive_quality: false)"
    elif model["outcomes"] < report["apply_after_outcomes"]:
        applying = f"applied after {report['apply_after_outcomes']} outcomes ({model['outcomes']} so far)"
    else:
        applying = "applied"
    return (
        f"[b]ROC-AUC[/b] {figure_text(figures['roc_auc'])}  [b]Brier[/b] {figure_text(figures['brier'])}  "
        f"[b]ECE[/b] {figure_text(figures['ece'])}  [b]Spearman[/b] {figure_text(figures['spearman'])}  "
        f"[b]MAE[/b] {figure_text(figures['mae'])}\n"
        f"[dim]over {figures['outcomes']} outcome(s), {figures['judged']} judged; {report['waiting']} waiting for "
        f"their {report['window_minutes']:g}-min window · bad = re-ask, thumbs-down or judged < "
        f"{report['bad_quality_below']:g} · model v{report['model']['version']}, prior weight "
        f"{report['model']['prior_weight']:.2f} · recommendations {applying}[/dim]"
    )


def configuration_text(params: dict[str, Any]) -> str:
    """A tier's parameters in a few words: retrieval mode, loop (arrows shortened), collaboration."""
    parts = []
    if "retrieval_mode" in params:
        parts.append(str(params["retrieval_mode"]))
    if "loop" in params:
        parts.append(str(params["loop"]).replace(" -> ", "→").replace("until quality >= ", "≥").replace(" max ", "×"))
    if params.get("collaborate"):
        parts.append("collaborate")
    return " · ".join(parts) or "as configured"


class PredictiveQualityTab(OverviewTab):
    """Predicted vs judged quality, the reliability chart, the accuracy figures, retry rate and configuration tiers."""

    TITLE = "Predictive Quality — forecasts made before answering, and how they turned out"
    NOTE = ("Each forecast is made before retrieval from pre-answer features; figures are progressive "
            "(every prediction was made before its own outcome was learned). `hololoom quality report` prints them.")

    def compose_body(self) -> ComposeResult:
        yield Static("", id="pq-summary")
        with Horizontal(id="pq-charts"):
            yield PlotextPlot(id="pq-predicted-judged")
            yield PlotextPlot(id="pq-reliability")
            yield PlotextPlot(id="pq-retry-rate")
        tiers: FittedTable = FittedTable(id="pq-tiers", cursor_type="row", zebra_stripes=True)
        tiers.add_columns("tier", "configuration", "answers", "share", "applied", "mean judged", "bad rate",
                          "mean latency")
        yield tiers
        recent: FittedTable = FittedTable(id="pq-recent", cursor_type="row", zebra_stripes=True)
        recent.add_columns("time", "#", "predicted", "judged", "bad-outcome risk", "outcome", "tier")
        yield recent

    def render_overview(self, overview: EngineOverview) -> None:
        report = overview.extra.get("quality")
        summary = self.query_one("#pq-summary", Static)
        if not report:
            summary.update("The quality capability is not installed: nothing is predicted.")
            return
        summary.update(summary_text(report))
        self.plot_predicted_judged(report["recent"])
        self.plot_reliability(report["figures"]["calibration"])
        self.plot_retry_rate(report["retry_rate"])
        self.fill_tiers(report["tiers"])
        self.fill_recent(report["recent"])

    def plot_predicted_judged(self, recent: list[dict[str, Any]]) -> None:
        """Predicted and judged quality of the recent answers, in order."""
        widget = self.query_one("#pq-predicted-judged", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.title("predicted vs judged quality")
        judged = [(n, row) for n, row in enumerate(recent, start=1) if row["judged_quality"] is not None]
        if recent:
            plt.plot(list(range(1, len(recent) + 1)), [row["predicted_quality"] for row in recent],
                     label="predicted", marker="braille")
        if judged:
            plt.scatter([n for n, _ in judged], [row["judged_quality"] for _, row in judged], label="judged",
                        marker="dot")
        plt.ylim(0, 1)
        plt.xlabel("answer")
        widget.refresh()

    def plot_reliability(self, calibration: list[dict[str, Any]]) -> None:
        """Observed bad-outcome rate against the predicted probability, per bin, with the diagonal."""
        widget = self.query_one("#pq-reliability", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.title("reliability (bad outcome)")
        plt.plot([0, 1], [0, 1], label="perfect", marker="braille")
        filled = [row for row in calibration if row["n"]]
        if filled:
            plt.scatter([row["predicted"] for row in filled], [row["observed"] for row in filled], label="observed",
                        marker="dot")
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        plt.xlabel("predicted")
        widget.refresh()

    def plot_retry_rate(self, rates: list[dict[str, Any]]) -> None:
        """The bad-outcome rate per run of consecutive outcomes."""
        widget = self.query_one("#pq-retry-rate", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.title("bad-outcome rate over time")
        if rates:
            plt.plot([row["outcomes"] for row in rates], [row["rate"] for row in rates], marker="braille")
        plt.ylim(0, 1)
        plt.xlabel("outcomes")
        widget.refresh()

    def fill_tiers(self, tiers: list[dict[str, Any]]) -> None:
        """One row per configuration tier: what it sets, how often it was chosen and applied, what it cost."""
        table = self.query_one("#pq-tiers", DataTable)
        table.clear()
        for tier in tiers:
            params = configuration_text(tier["params"])
            table.add_row(tier["tier"], params, str(tier["answers"]), f"{tier['share']:.0%}", str(tier["applied"]),
                          quality_text(tier["mean_quality"]), figure_text(tier["bad_rate"]),
                          latency_text(tier["mean_latency_ms"]))

    def fill_recent(self, recent: list[dict[str, Any]]) -> None:
        """The newest predictions first, with their outcomes."""
        table = self.query_one("#pq-recent", DataTable)
        table.clear()
        for row in reversed(recent[-20:]):
            outcome = "waiting" if row["bad"] is None else ("bad" if row["bad"] else "good")
            table.add_row(clock_time(row["ts"]), str(row["interaction_id"]), quality_text(row["predicted_quality"]),
                          quality_text(row["judged_quality"]), f"{row['retry_probability']:.2f}", outcome,
                          row["tier"] + ("" if row["applied"] else " (not applied)"))
