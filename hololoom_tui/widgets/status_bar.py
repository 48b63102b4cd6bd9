"""The status bar: mode, language provider, data path and live counters."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from hololoom_tui.format import latency_text, quality_text


class StatusBar(Static):
    """One line at the top of the app with what the engine is doing right now."""

    mode: reactive[str] = reactive("offline")
    provider: reactive[str] = reactive("offline")
    provider_state: reactive[str] = reactive("ok")
    data_path: reactive[str] = reactive("")
    stats: reactive[dict[str, Any]] = reactive(dict, always_update=True)
    activity: reactive[str] = reactive("")

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
        if self.activity:
            text.append("  ")
            text.append(self.activity, style="bold cyan")
        text.append("  data ", style="dim")
        text.append(self.data_path, style="dim")
        return text
