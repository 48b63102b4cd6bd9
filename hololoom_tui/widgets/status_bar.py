"""The status bar: mode, language provider, data path and live counters."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.reactive import reactive
from textual.widgets import Static

from hololoom_tui.bridge import StatsUpdated, StatusUpdated
from hololoom_tui.format import clock_time, latency_text, quality_text


class StatusBar(Static):
    """One line at the top of the app with what the engine is doing right now."""

    mode: reactive[str] = reactive("offline")
    provider: reactive[str] = reactive("offline")
    provider_state: reactive[str] = reactive("ok")
    data_path: reactive[str] = reactive("")
    stats: reactive[dict[str, Any]] = reactive(dict, always_update=True)
    activity: reactive[str] = reactive("")
    # Matrix connection: state, detail, last_sync_ts, last_error (empty when Matrix is not configured).
    matrix: reactive[dict[str, Any]] = reactive(dict, always_update=True)

    @on(StatsUpdated)
    def _stats_updated(self, message: StatsUpdated) -> None:
        self.stats = message.stats

    @on(StatusUpdated)
    def _status_updated(self, message: StatusUpdated) -> None:
        for event in message.events:
            if event.part == "llm":
                self.provider_state = event.state
            elif event.part == "matrix":
                self.matrix = {"state": event.state, "detail": event.detail, **event.extra}

    def render(self) -> Text:
        """Compose the line from the reactive fields."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self.mode.upper()} ", style="bold reverse")
        provider_style = "green" if self.provider_state == "ok" else "yellow"
        text.append("  llm ", style="dim")
        text.append(self.provider, style=provider_style)
        if self.provider_state != "ok":
            text.append(f" ({self.provider_state})", style="yellow")
        stats = self.stats or {}
        text.append("  msgs ", style="dim")
        text.append(str(stats.get("messages", 0)))
        text.append("  answers ", style="dim")
        text.append(str(stats.get("answers", 0)))
        text.append("  quality ", style="dim")
        text.append(quality_text(stats.get("mean_quality")))
        text.append("  p50 ", style="dim")
        text.append(latency_text(stats.get("p50_latency_ms")))
        if self.matrix:
            self.render_matrix(text)
        if self.activity:
            text.append("  ")
            text.append(self.activity, style="bold cyan")
        text.append("  data ", style="dim")
        text.append(self.data_path, style="dim")
        return text

    def render_matrix(self, text: Text) -> None:
        """Append the Matrix connection state, last sync time and last error."""
        matrix = self.matrix
        state = str(matrix.get("state", "?"))
        style = {"connected": "green", "error": "bold red", "stopped": "dim"}.get(state, "yellow")
        text.append("  matrix ", style="dim")
        text.append(state, style=style)
        last_sync = matrix.get("last_sync_ts")
        if last_sync:
            text.append(f" synced {clock_time(float(last_sync))}", style="dim")
        error = matrix.get("last_error")
        if error and state != "connected":
            text.append(f" ({str(error)[:60]})", style="yellow")
