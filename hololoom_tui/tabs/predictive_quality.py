"""The Predictive Quality tab: the quality of recent answers, as measured by the judge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import DataTable, Sparkline, Static

from hololoom_tui.format import clock_time, shorten
from hololoom_tui.tabs.base import OverviewTab

if TYPE_CHECKING:
    from hololoom_core.engine.overview import EngineOverview


class PredictiveQualityTab(OverviewTab):
    """Recent answers' quality as a sparkline and a table."""

    TITLE = "Predictive Quality — measured quality of recent answers"
    NOTE = "Quality predicted before answering, next to the judged quality, will appear here."

    def compose_body(self) -> ComposeResult:
        yield Static("", id="pq-summary")
        yield Sparkline([], id="pq-sparkline")
        table: DataTable[str] = DataTable(id="pq-recent", cursor_type="row", zebra_stripes=True)
        table.add_columns("time", "question", "quality", "latency", "grounded")
        yield table

    def render_overview(self, overview: EngineOverview) -> None:
        recent = list(reversed(overview.recent))
        self.query_one("#pq-summary", Static).update(
            f"Last {len(recent)} answer(s), oldest first:" if recent else "No answers yet."
        )
        sparkline = self.query_one("#pq-sparkline", Sparkline)
        sparkline.display = len(recent) >= 2  # one value would fill the whole width and mean nothing
        sparkline.data = [answer.quality for answer in recent]
        table = self.query_one("#pq-recent", DataTable)
        table.clear()
        for answer in reversed(recent):
            table.add_row(
                clock_time(answer.ts),
                shorten(answer.question, 60),
                f"{answer.quality:.2f}",
                f"{answer.latency_ms:.1f} ms",
                "yes" if answer.grounded else "no",
            )
