"""The dashboard panel: host and bot figures, open incidents and approvals, from the engine's overview."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from hololoom_core.ops.dashboard import Dashboard
from hololoom_core.ops.incidents.postmortem import format_duration
from hololoom_tui.format import latency_text, quality_text, shorten


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


class DashboardPanel(Static):
    """Renders one `Dashboard` snapshot (the same figures `!status` prints)."""

    dashboard: reactive[Dashboard | None] = reactive(None, always_update=True)

    def render(self) -> Any:
        """Four blocks: host, bot, open incidents, approvals."""
        dashboard = self.dashboard
        if dashboard is None:
            return Text("Collecting figures…", style="dim")
        host, bot = dashboard.host, dashboard.bot
        figures = Table.grid(padding=(0, 2))
        figures.add_column(style="dim", no_wrap=True)
        figures.add_column()
        cpu = "—" if host.cpu_percent is None else f"{host.cpu_percent:.0f}% of {host.cpu_count} cores"
        load = "" if host.load_1m is None else f"  load {host.load_1m:.2f}"
        figures.add_row("CPU", cpu + load)
        figures.add_row("Memory", f"{host.memory_used_mb / 1000:.1f} / {host.memory_total_mb / 1000:.1f} GB "
                                  f"({host.memory_percent:.0f}%)")
        disk = "—" if host.disk_used_percent is None else f"{host.disk_used_percent:.0f}% used, " \
                                                        f"{host.disk_free_gb:.1f} GB free"
        figures.add_row("Data disk", disk)
        figures.add_row("Process", f"{host.process_rss_mb:.0f} MB RSS, up {format_duration(host.process_uptime_s)}")
        figures.add_row("Messages", str(bot.messages))
        figures.add_row("Answers", f"{bot.answers}  ({bot.commands} commands)")
        figures.add_row("p50 latency", latency_text(bot.p50_latency_ms))
        figures.add_row("Mean quality", quality_text(bot.mean_quality))
        cache = f"{_percent(bot.cache_hit_rate)}  ({bot.cache_hits}/{bot.cache_lookups})" if bot.cache_enabled \
            else "off"
        figures.add_row("Cache hit rate", cache)
        counts = dashboard.incident_counts
        if counts:
            figures.add_row("Incidents", f"{counts.get('open', 0)} open, {counts.get('resolved', 0)} resolved  "
                                         f"MTTA {format_duration(dashboard.mean_time_to_acknowledge_s)}  "
                                         f"MTTR {format_duration(dashboard.mean_time_to_resolve_s)}")
        incidents = Table(title="Open incidents", title_justify="left", expand=True, show_edge=False)
        for column in ("id", "sev", "age", "ack", "title"):
            incidents.add_column(column, no_wrap=column != "title")
        for incident in dashboard.open_incidents:
            incidents.add_row(incident["id"], incident["severity"], format_duration(incident["age_s"]),
                              "yes" if incident["acknowledged"] else Text("no", style="bold red"),
                              Text(shorten(incident["title"], 60)))
        if not dashboard.open_incidents:
            incidents.add_row("—", "", "", "", Text("no open incident", style="dim"))
        if dashboard.approvals is None:
            approvals: Any = Text("Workflow approvals: workflows are not installed.", style="dim")
        else:
            approvals = Table(title="Waiting for approval", title_justify="left", expand=True, show_edge=False)
            approvals.add_column("run", no_wrap=True)
            approvals.add_column("workflow", no_wrap=True)
            approvals.add_column("waiting on")
            for run in dashboard.approvals:
                approvals.add_row(Text(str(run.get("run_id") or run.get("id") or run.get("run") or "?")),
                                  Text(str(run.get("workflow") or run.get("name") or "")),
                                  Text(shorten(str(run.get("prompt") or run.get("question") or run.get("step") or ""),
                                               60)))
            if not dashboard.approvals:
                approvals.add_row("—", "", Text("nothing waiting", style="dim"))
        return Group(figures, Text(""), incidents, Text(""), approvals)
