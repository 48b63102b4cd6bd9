"""The common shape of the state tabs: a title, a body rendered from the engine overview, and a note."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from hololoom_tui.bridge import EngineMessage
from hololoom_tui.engine_view import EngineView

if TYPE_CHECKING:
    from hololoom_core.engine.overview import EngineOverview


class OverviewTab(VerticalScroll):
    """A tab that renders the engine overview in `render_overview`, refreshed by the bridge messages it listens to.

    While the tab is hidden, messages only mark it stale; it reads the overview again when it is shown.
    """

    TITLE = ""
    NOTE = ""

    overview: reactive[EngineOverview | None] = reactive(None, always_update=True)

    def __init__(self, view: EngineView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.stale = True

    def compose(self) -> ComposeResult:
        """Title, body, then the note on how to use the tab."""
        yield Static(f"[b]{self.TITLE}[/b]", classes="tab-title")
        yield from self.compose_body()
        yield Static(f"[dim]{self.NOTE}[/dim]", classes="tab-note")

    def compose_body(self) -> ComposeResult:
        """The tab's own widgets."""
        yield from ()

    def refresh_overview(self) -> None:
        """Read the overview now (nothing before the engine is bound)."""
        overview = self.view.overview()
        if overview is not None:
            self.stale = False
            self.overview = overview

    def on_show(self) -> None:
        """Catch up when the tab is shown."""
        if self.stale:
            self.refresh_overview()

    @on(EngineMessage)
    def _engine_changed(self, message: EngineMessage) -> None:
        self.stale = True
        if self.is_mounted and self.display and self.parent is not None and self.parent.display:
            self.refresh_overview()

    def watch_overview(self, overview: EngineOverview | None) -> None:
        if overview is not None and self.is_mounted:
            self.render_overview(overview)

    def render_overview(self, overview: EngineOverview) -> None:
        """Update the widgets from the overview."""
