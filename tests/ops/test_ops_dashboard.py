"""Dashboards: `!status` figures match what the store and the engine measured; the app's panel shows them."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from hololoom_core.engine import Engine
from hololoom_core.engine.overview import build_overview
from hololoom_core.ops.dashboard import PendingApprovals, collect_dashboard, render_dashboard
from hololoom_core.transport.local import LocalRoom
from hololoom_tui.app import make_app
from hololoom_tui.screens.dashboard import DashboardScreen
from hololoom_tui.widgets.dashboard import DashboardPanel
from tests.ops.ops_helpers import make_config, reply_text, sayer


class WaitingWorkflows:
    """The workflow engine's documented interface, with one run waiting at an approval gate."""

    async def start_run(self, name: str, args: dict[str, str], *, user: str, room_id: str,
                        thread_id: str | None) -> str:
        return "started"

    def waiting_for_approval(self) -> list[dict[str, Any]]:
        return [{"run_id": "R7", "workflow": "deploy-rollback", "prompt": "Roll back search-api to v2.13.2?",
                 "approvers": ["@priya"]}]


async def test_dashboard_figures_are_measured(engine: Engine) -> None:
    real_workflows = engine.services.withdraw(PendingApprovals)  # first without workflows, then with stand-ins and real
    say = sayer(engine)
    await say("alice", "@hololoom disk is full on db-1, what should I check?")
    await say("bob", "@hololoom Disk is full on db-1 - what should I check")  # same question: a cache hit
    await say("carol", "!ping")
    await say("alice", "!incident declare sev2 checkout-api 500s")
    await say("alice", "!incident declare sev3 slow search")
    await say("priya", "!incident resolve INC-2 fixed", ts=engine.clock.now() + 600)

    dashboard = collect_dashboard(engine)
    store = engine.store
    assert dashboard.bot.messages == store.scalar("SELECT count(*) FROM messages")
    assert dashboard.bot.answers == 2 == store.scalar("SELECT count(*) FROM interactions")
    latencies = [row[0] for row in store.query("SELECT latency_ms FROM interactions")]
    assert dashboard.bot.p50_latency_ms == statistics.median(latencies)
    qualities = [row[0] for row in store.query("SELECT quality FROM interactions")]
    assert abs(dashboard.bot.mean_quality - sum(qualities) / len(qualities)) < 1e-9
    assert (dashboard.bot.cache_hits, dashboard.bot.cache_lookups, dashboard.bot.cache_hit_rate) == (1, 2, 0.5)
    assert dashboard.bot.commands == 4
    assert [i["id"] for i in dashboard.open_incidents] == ["INC-1"]
    assert dashboard.incident_counts == {"open": 1, "resolved": 1}
    assert dashboard.mean_time_to_resolve_s is not None and 590 < dashboard.mean_time_to_resolve_s < 610
    assert dashboard.host.memory_total_mb == psutil.virtual_memory().total / 1e6
    cpu_percent = dashboard.host.cpu_percent
    assert cpu_percent is not None and 0 <= cpu_percent <= 100 and dashboard.host.process_rss_mb > 10
    assert dashboard.approvals is None

    text = reply_text(await say("carol", "!dashboard"))
    assert "cache hit rate 50% (1/2)" in text and "p50 latency" in text
    assert "- INC-1 (sev2, " in text and "NOT acknowledged) checkout-api 500s" in text
    assert "Workflow approvals: workflows are not installed." in text

    engine.provide(WaitingWorkflows(), as_type=PendingApprovals)
    with_approvals = render_dashboard(collect_dashboard(engine))
    assert "**Waiting for approval (1)**" in with_approvals
    assert "- run `R7` of `deploy-rollback`: Roll back search-api to v2.13.2? (approvers: @priya) — " \
           "`!workflow approve R7`" in with_approvals
    assert build_overview(engine).extra["dashboard"].approvals[0]["run_id"] == "R7"
    engine.provide(real_workflows, as_type=PendingApprovals)
    assert collect_dashboard(engine).approvals == []  # the real workflow engine: nothing is waiting


async def test_the_app_shows_the_dashboard(tmp_path: Path) -> None:
    engine = Engine(make_config(tmp_path, workflows={"enabled": False}))
    room = LocalRoom(engine)
    await room.post("alice", "!incident declare sev1 payments down")
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f5")
        for _ in range(100):
            screens = [s for s in app.screen_stack if isinstance(s, DashboardScreen)]
            if screens and screens[0].query_one(DashboardPanel).dashboard is not None:
                break
            await pilot.pause(0.05)
        panel = app.screen.query_one(DashboardPanel)
        assert panel.dashboard is not None and panel.dashboard.open_incidents[0]["id"] == "INC-1"
        rendered = panel.render()
        console = Console(width=100, record=True)
        console.print(rendered)
        text = console.export_text()
        assert "INC-1" in text and "payments down" in text and "Cache hit rate" in text
        assert "workflows are not installed" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DashboardScreen)
