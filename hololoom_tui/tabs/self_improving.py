"""The Self-Improving tab: how the judge scores answers, criterion by criterion."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from hololoom_core.engine.overview import EngineOverview
from hololoom_tui.format import bar
from hololoom_tui.tabs.base import OverviewTab


class SelfImprovingTab(OverviewTab):
    """Judge criteria means over recent answers."""

    TITLE = "Self-Improving — judge scores"
    NOTE = "Prompt experiments (variants, Thompson-sampling pulls, posteriors, promotions) will appear here."

    def compose_body(self) -> ComposeResult:
        yield Static("", id="si-summary")
        table: DataTable[str] = DataTable(id="si-criteria", cursor_type="none", zebra_stripes=True)
        table.add_columns("criterion", "mean", "")
        yield table

    def render_overview(self, overview: EngineOverview) -> None:
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
