"""A modal dashboard (F5 / command palette): the `!status` figures, read again whenever the engine reports a change."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hololoom_tui.bridge import (
    AnswersReady,
    EngineBridge,
    EngineMessage,
    FeedbackArrived,
    IncidentsChanged,
    StatsUpdated,
    WorkflowRunsChanged,
)
from hololoom_tui.engine_view import EngineView
from hololoom_tui.format import clock_time
from hololoom_tui.widgets.dashboard import DashboardPanel

# What changes the dashboard's figures: counters (messages, answers, latency), incidents, workflow runs, feedback.
DASHBOARD_UPDATES: tuple[type[EngineMessage], ...] = (
    StatsUpdated, AnswersReady, FeedbackArrived, IncidentsChanged, WorkflowRunsChanged,
)


class DashboardScreen(ModalScreen[None]):
    """Host and bot metrics, open incidents, approvals; live from engine events; Escape closes."""

    BINDINGS = [Binding("escape,f5", "dismiss(None)", "Close", id="dashboard.close")]

    def __init__(self, view: EngineView, bridge: EngineBridge) -> None:
        super().__init__()
        self.view = view
        self.bridge = bridge

    def compose(self) -> ComposeResult:
        """A title and the panel."""
        with VerticalScroll(id="dashboard-dialog"):
            yield Static("[b]Dashboard[/b] [dim](live · Esc to close)[/dim]", id="dashboard-title")
            yield DashboardPanel(id="dashboard-panel")

    def on_mount(self) -> None:
        """Fill the panel now, then whenever the engine reports a change."""
        self.refresh_figures()
        self.bridge.listen(self, *DASHBOARD_UPDATES)

    def on_unmount(self) -> None:
        """Stop listening."""
        self.bridge.forget(self)

    @on(EngineMessage)
    def _engine_changed(self) -> None:
        self.refresh_figures()

    def refresh_figures(self) -> None:
        """Read the figures through the engine's overview."""
        dashboard = self.view.dashboard()
        self.query_one(DashboardPanel).dashboard = dashboard
        when = f"figures at {clock_time(dashboard.generated_ts)} · " if dashboard is not None else ""
        self.query_one("#dashboard-title", Static).update(f"[b]Dashboard[/b] [dim]({when}live · Esc to close)[/dim]")
