"""The common shape of the state tabs: a title, a body rendered from the engine overview, and a note."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from hololoom_core.engine.overview import EngineOverview


class OverviewTab(VerticalScroll):
    """A tab that renders `overview` (set by the app) in `render_overview`."""

    TITLE = ""
    NOTE = ""

    overview: reactive[EngineOverview | None] = reactive(None, always_update=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def compose(self) -> ComposeResult:
        """Title, body, then the note on what will appear here."""
        yield Static(f"[b]{self.TITLE}[/b]", classes="tab-title")
        yield from self.compose_body()
        yield Static(f"[dim]{self.NOTE}[/dim]", classes="tab-note")

    def compose_body(self) -> ComposeResult:
        """The tab's own widgets."""
        yield from ()

    def watch_overview(self, overview: EngineOverview | None) -> None:
        if overview is not None and self.is_mounted:
            self.render_overview(overview)

    def render_overview(self, overview: EngineOverview) -> None:
        """Update the widgets from the overview."""
