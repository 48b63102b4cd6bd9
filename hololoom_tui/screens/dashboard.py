"""A modal dashboard (F5 / command palette): the `!status` figures, refreshed every two seconds."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hololoom_core.engine import Engine
from hololoom_core.engine.overview import build_overview
from hololoom_tui.widgets.dashboard import DashboardPanel

REFRESH_SECONDS = 2.0


class DashboardScreen(ModalScreen[None]):
    """Host and bot metrics, open incidents, approvals; Escape closes."""

    BINDINGS = [Binding("escape,f5", "dismiss(None)", "Close", id="dashboard.close")]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    def compose(self) -> ComposeResult:
        """A title and the panel."""
        with VerticalScroll(id="dashboard-dialog"):
            yield Static("[b]Dashboard[/b] [dim](refreshes every 2 s · Esc to close)[/dim]")
            yield DashboardPanel(id="dashboard-panel")

    def on_mount(self) -> None:
        """Fill the panel now and keep it fresh."""
        self.refresh_figures()
        self.set_interval(REFRESH_SECONDS, self.refresh_figures)

    def refresh_figures(self) -> None:
        """Read the figures through the engine's overview."""
        self.query_one(DashboardPanel).dashboard = build_overview(self.engine, recent=1).extra.get("dashboard")
