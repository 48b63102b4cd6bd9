"""Dashboards: host metrics (psutil), bot metrics, open incidents and workflow runs waiting for approval.

`!status` / `!dashboard` in chat (and `hololoom say "!status"`) render `collect_dashboard(engine)` as
Markdown; the app shows the same `Dashboard` through `build_overview(engine).extra["dashboard"]`.
Every figure is measured when it is collected.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import psutil

from hololoom_core.engine.capabilities import Capability
from hololoom_core.engine.commands import CommandContext
from hololoom_core.ops.answer_cache import AnswerCache
from hololoom_core.ops.incidents.models import Incident
from hololoom_core.ops.incidents.postmortem import format_duration
from hololoom_core.ops.incidents.service import IncidentService
from hololoom_core.rooms import RoomScope

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

MIN_CPU_WINDOW_S = 0.25


@dataclass(slots=True)
class HostMetrics:
    """The machine and this process, as psutil reports them."""

    cpu_percent: float | None
    cpu_count: int
    load_1m: float | None
    memory_used_mb: float
    memory_total_mb: float
    memory_percent: float
    disk_used_percent: float | None
    disk_free_gb: float | None
    process_rss_mb: float
    process_uptime_s: float


@dataclass(slots=True)
class BotMetrics:
    """What the bot has done: messages, answers, commands, latency, quality, cache hit rate."""

    messages: int
    answers: int
    commands: int
    insights: int
    p50_latency_ms: float | None
    mean_quality: float | None
    cache_hit_rate: float | None
    cache_hits: int
    cache_lookups: int
    cache_enabled: bool


@dataclass(slots=True)
class Dashboard:
    """One snapshot of every figure `!status` and the app show."""

    generated_ts: float
    host: HostMetrics
    bot: BotMetrics
    open_incidents: list[dict[str, Any]] = field(default_factory=list)
    incident_counts: dict[str, int] = field(default_factory=dict)
    mean_time_to_acknowledge_s: float | None = None
    mean_time_to_resolve_s: float | None = None
    approvals: list[dict[str, Any]] | None = None  # None: workflows are not installed

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


class HostSampler:
    """Samples host metrics; CPU % is measured between two calls, so the sampler is primed when created."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.process = psutil.Process()
        self.last_cpu_sample = time.monotonic()
        psutil.cpu_percent(interval=None)

    def seconds_since_cpu_sample(self) -> float:
        """How long the current CPU measuring window has been open."""
        return time.monotonic() - self.last_cpu_sample

    def sample(self) -> HostMetrics:
        """Measure now (CPU % is the average since the previous sample)."""
        cpu = psutil.cpu_percent(interval=None)
        self.last_cpu_sample = time.monotonic()
        memory = psutil.virtual_memory()
        try:
            disk = psutil.disk_usage(self.data_dir)
            disk_used, disk_free = disk.percent, disk.free / 1e9
        except OSError:
            disk_used, disk_free = None, None
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):
            load = None
        with self.process.oneshot():
            rss = self.process.memory_info().rss / 1e6
            uptime = time.time() - self.process.create_time()
        return HostMetrics(
            cpu_percent=cpu,
            cpu_count=psutil.cpu_count() or 1,
            load_1m=load,
            memory_used_mb=(memory.total - memory.available) / 1e6,
            memory_total_mb=memory.total / 1e6,
            memory_percent=memory.percent,
            disk_used_percent=disk_used,
            disk_free_gb=disk_free,
            process_rss_mb=rss,
            process_uptime_s=uptime,
        )


class PendingApprovals(Protocol):
    """What the dashboard asks of the workflow engine: the runs waiting at an approval gate."""

    def waiting_for_approval(self) -> list[Any]:
        """One mapping per run waiting for approval."""
        ...


def collect_dashboard(engine: Engine, scope: RoomScope | None = None) -> Dashboard:
    """Measure every figure now; open incidents and approvals only of the rooms of `scope` (None: every room)."""
    scope = scope or RoomScope.everything()
    sampler = engine.find_capability(HostSampler)
    if sampler is None:  # the dashboard capability was not installed: sample anyway
        sampler = HostSampler(str(engine.config.data_dir))
        engine.provide(sampler)
    stats = engine.stats
    cache = engine.find_capability(AnswerCache)
    cache_stats = cache.stats() if cache is not None else None
    bot = BotMetrics(
        messages=stats.messages,
        answers=stats.answers,
        commands=stats.commands,
        insights=stats.insights,
        p50_latency_ms=stats.p50_latency_ms,
        mean_quality=stats.mean_quality,
        cache_hit_rate=cache_stats["lifetime_hit_rate"] if cache_stats else None,
        cache_hits=cache_stats["lifetime_hits"] if cache_stats else 0,
        cache_lookups=cache_stats["lifetime_lookups"] if cache_stats else 0,
        cache_enabled=cache is not None,
    )
    dashboard = Dashboard(generated_ts=engine.clock.now(), host=sampler.sample(),
                          bot=bot)
    incidents = engine.find_capability(IncidentService)
    if incidents is not None:
        now = dashboard.generated_ts
        open_now: list[Incident] = sorted(incidents.open_incidents(), key=lambda found: (found.severity,
                                                                                        found.declared_ts))
        dashboard.open_incidents = [
            {"id": open_incident.key, "title": open_incident.title, "severity": open_incident.severity,
             "room": open_incident.room_id, "age_s": now - open_incident.declared_ts,
             "acknowledged": open_incident.acknowledged_ts is not None,
             "commander": open_incident.roles.get("commander")}
            for open_incident in open_now if scope.allows(open_incident.room_id)
        ]
        dashboard.incident_counts = incidents.db.counts()
        means = incidents.db.mean_times()
        dashboard.mean_time_to_acknowledge_s = means["mtta_s"]
        dashboard.mean_time_to_resolve_s = means["mttr_s"]
    workflows = engine.find_capability(PendingApprovals)
    if workflows is not None:
        try:
            dashboard.approvals = [dict(run) for run in workflows.waiting_for_approval()
                                   if scope.allows(run.get("room_id"))]
        except Exception as exc:
            engine.report_error("dashboard", f"workflows.waiting_for_approval failed: {exc}")
            dashboard.approvals = []
    return dashboard


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def approval_line(run: dict[str, Any], prefix: str) -> str:
    """One workflow run waiting for approval, whatever keys the workflow engine gives."""
    run_id = run.get("run_id") or run.get("id") or run.get("run") or "?"
    name = run.get("workflow") or run.get("name") or "workflow"
    prompt = run.get("prompt") or run.get("question") or run.get("step") or ""
    who = run.get("approvers") or run.get("allowed") or ""
    who_text = f" (approvers: {', '.join(who) if isinstance(who, list) else who})" if who else ""
    return f"- run `{run_id}` of `{name}`: {prompt}{who_text} — `{prefix}workflow approve {run_id}`"


def render_dashboard(dashboard: Dashboard, prefix: str = "!") -> str:
    """The dashboard as Markdown for chat."""
    host, bot = dashboard.host, dashboard.bot
    cpu = "—" if host.cpu_percent is None else f"{host.cpu_percent:.0f}%"
    load = "" if host.load_1m is None else f", load {host.load_1m:.2f}"
    disk = "—" if host.disk_used_percent is None else f"{host.disk_used_percent:.0f}% used, " \
                                                    f"{host.disk_free_gb:.1f} GB free"
    latency = "—" if bot.p50_latency_ms is None else f"{bot.p50_latency_ms:.0f} ms"
    quality = "—" if bot.mean_quality is None else f"{bot.mean_quality:.2f}"
    cache = f"{_percent(bot.cache_hit_rate)} ({bot.cache_hits}/{bot.cache_lookups})" if bot.cache_enabled else "off"
    lines = [
        "**HoloLoom status**",
        f"- Host: CPU {cpu} of {host.cpu_count} cores{load} · memory {host.memory_used_mb / 1000:.1f}/"
        f"{host.memory_total_mb / 1000:.1f} GB ({host.memory_percent:.0f}%) · data disk {disk}",
        f"- Bot process: {host.process_rss_mb:.0f} MB RSS, up {format_duration(host.process_uptime_s)}",
        f"- Bot: {bot.messages} messages · {bot.answers} answers · {bot.commands} commands · p50 latency {latency} · "
        f"mean quality {quality} · cache hit rate {cache}",
    ]
    counts = dashboard.incident_counts
    if counts:
        lines.append(f"- Incidents: {counts.get('open', 0)} open, {counts.get('resolved', 0)} resolved · MTTA "
                     f"{format_duration(dashboard.mean_time_to_acknowledge_s)} · MTTR "
                     f"{format_duration(dashboard.mean_time_to_resolve_s)}")
    if dashboard.open_incidents:
        lines += ["", f"**Open incidents ({len(dashboard.open_incidents)})**"]
        for incident in dashboard.open_incidents:
            state = "acknowledged" if incident["acknowledged"] else "NOT acknowledged"
            commander = f", commander {incident['commander']}" if incident["commander"] else ""
            lines.append(f"- {incident['id']} ({incident['severity']}, {format_duration(incident['age_s'])}, "
                         f"{state}{commander}) {incident['title']}")
    if dashboard.approvals is None:
        lines += ["", "Workflow approvals: workflows are not installed."]
    elif dashboard.approvals:
        lines += ["", f"**Waiting for approval ({len(dashboard.approvals)})**"]
        lines += [approval_line(run, prefix) for run in dashboard.approvals]
    else:
        lines += ["", "No workflow run is waiting for approval."]
    return "\n".join(lines)


class DashboardCapability(Capability):
    """Host and bot metrics: `!status` / `!dashboard` and the app's dashboard panel; provides `HostSampler`."""

    name = "dashboard"

    def install(self, engine: Engine) -> None:
        """Prime the host sampler, register `!status` / `!dashboard` and the dashboard overview panel."""
        sampler = HostSampler(str(engine.config.data_dir))
        engine.provide(sampler)
        # The live counter starts at zero in each process; start it from the command replies already stored.
        engine.stats.commands = engine.messages.count_where(is_bot=True, kind="command")
        engine.overview_panels["dashboard"] = collect_dashboard
        install_status_command(engine, sampler)


def install_status_command(engine: Engine, sampler: HostSampler) -> None:
    """Register `!status` (alias `!dashboard`)."""
    prefix = engine.config.bot.command_prefix

    @engine.commands.command("status", help="Host and bot metrics, open incidents, workflow runs awaiting approval.",
                             aliases=("dashboard",), group="general")
    async def status(context: CommandContext) -> str:
        window = sampler.seconds_since_cpu_sample()
        if window < MIN_CPU_WINDOW_S:  # a shorter CPU window measures noise
            await asyncio.sleep(MIN_CPU_WINDOW_S - window)
        return render_dashboard(collect_dashboard(engine, engine.room_scope(context.room_id)), prefix)
