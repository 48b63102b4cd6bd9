"""The Marketplace tab: what is installed (runbooks now, shared workflows later)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import Static

from hololoom_tui.tabs.base import OverviewTab

if TYPE_CHECKING:
    from hololoom_core.engine.overview import EngineOverview


class MarketplaceTab(OverviewTab):
    """Installed knowledge and workflows."""

    TITLE = "Marketplace — installed"
    NOTE = "Workflows shared through the marketplace (browse, install, rate) will appear here."

    def compose_body(self) -> ComposeResult:
        yield Static("", id="mp-installed")

    def render_overview(self, overview: EngineOverview) -> None:
        self.query_one("#mp-installed", Static).update(
            f"Runbooks: {overview.runbooks} (shipped)   Workflows: {overview.workflows}"
        )
