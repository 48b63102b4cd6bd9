"""The Multi-Agent tab: the agents, and how each has done."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import DataTable

from hololoom_tui.format import latency_text, quality_text
from hololoom_tui.tabs.base import OverviewTab

if TYPE_CHECKING:
    from hololoom_core.engine.overview import EngineOverview


class MultiAgentTab(OverviewTab):
    """Agents with their answer counts, mean quality and latency."""

    TITLE = "Multi-Agent — agents"
    NOTE = "Five specialist agents, the router's choices and their collaborations will appear here."

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="ma-agents", cursor_type="row", zebra_stripes=True)
        table.add_columns("agent", "for", "answers", "mean quality", "mean latency", "feedback")
        yield table

    def render_overview(self, overview: EngineOverview) -> None:
        table = self.query_one("#ma-agents", DataTable)
        table.clear()
        for agent in overview.agents:
            table.add_row(
                agent["name"],
                agent["brief"],
                str(agent["answers"]),
                quality_text(agent["mean_quality"]),
                latency_text(agent["mean_latency_ms"]),
                f"{agent['feedback']:+d}",
            )
