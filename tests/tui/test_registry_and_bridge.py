"""The tab registry drives bindings, compose and the palette; the bridge routes typed messages to listeners only;
the engine is built after the first frame; the dashboard follows engine events without polling."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Static, TabbedContent, TabPane

from hololoom_core.config import load_config
from hololoom_core.events import AnswerDelta, EngineError, StatsChanged, StatusChanged
from hololoom_core.ops.workflows.service import WorkflowService
from hololoom_core.transport.local import LocalRoom
from hololoom_tui.app import make_app
from hololoom_tui.bridge import (
    AnswerDeltas,
    EngineBridge,
    EngineErrors,
    MessagesStored,
    StatsUpdated,
    StatusUpdated,
    group_events,
)
from hololoom_tui.screens.dashboard import DashboardScreen
from hololoom_tui.tabs.marketplace import MarketplaceTab
from hololoom_tui.tabs.registry import TABS, tab
from hololoom_tui.widgets.chat_entries import BotEntry
from hololoom_tui.widgets.dashboard import DashboardPanel
from tests.tui.helpers import build_app, wait_for


async def test_every_registry_tab_has_a_pane_a_widget_a_binding_and_a_palette_entry(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panes = [pane.id for pane in app.query(TabPane)]
        assert panes == [spec.id for spec in TABS]
        bindings = {binding.id: binding for binding in app.BINDINGS if not isinstance(binding, tuple)}
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for spec in TABS:
            widget = app.tab_widget(spec.id)
            assert widget.id == spec.widget_id and widget.parent is app.query_one(f"#{spec.id}", TabPane)
            binding = bindings[spec.binding_id]
            assert binding.key == spec.key and binding.action == f"show_tab('{spec.id}')"
            assert f"Show {spec.title}" in titles
            for kind in spec.refresh_on:
                assert widget in app.bridge.listeners[kind]
        for spec in reversed(TABS):  # every key shows its tab
            await pilot.press(spec.key)
            await pilot.pause()
            assert app.query_one(TabbedContent).active == spec.id
        assert tab("marketplace").title == "Marketplace"


def test_events_are_grouped_into_one_message_kind_each_keeping_the_newest_stats() -> None:
    grouped = group_events([StatsChanged({"messages": 1}), AnswerDelta("#ops", 1, "a"), StatsChanged({"messages": 2}),
                            StatusChanged("llm", "ok"), AnswerDelta("#ops", 1, "b"), EngineError("x", "boom")])
    assert set(grouped) == {StatsUpdated, AnswerDeltas, StatusUpdated, EngineErrors}
    assert grouped[AnswerDeltas] == [AnswerDelta("#ops", 1, "a"), AnswerDelta("#ops", 1, "b")]
    assert StatsUpdated(grouped[StatsUpdated]).stats == {"messages": 2}


async def test_the_bridge_posts_each_kind_only_to_its_listeners(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.bridge.inbox is not None)
        bridge = app.bridge
        status_bar, chat = app.status_bar, app.chat
        assert status_bar in bridge.listeners[StatsUpdated] and chat not in bridge.listeners[StatsUpdated]
        assert chat in bridge.listeners[MessagesStored] and status_bar not in bridge.listeners[MessagesStored]
        await LocalRoom(app.engine).post("alice", "@hololoom disk full on web-03.prod")
        await wait_for(pilot, lambda: len(app.query(BotEntry)) == 1 and status_bar.stats.get("answers") == 1)
        before = bridge.batches
        app.engine.bus.publish(StatsChanged({**app.engine.stats.as_dict(), "messages": 41}))
        app.engine.bus.publish(StatsChanged({**app.engine.stats.as_dict(), "messages": 42}))
        await wait_for(pilot, lambda: status_bar.stats.get("messages") == 42)
        assert bridge.batches == before + 1  # two events within the rate limit: one batch


def test_a_closed_listener_is_forgotten() -> None:
    bridge = EngineBridge()

    class Closed:
        def post_message(self, message: object) -> bool:
            return False

    closed = Closed()
    bridge.listen(closed, StatsUpdated)  # type: ignore[arg-type]  # a stand-in for a widget whose app has closed
    bridge.deliver([StatsChanged({"messages": 1})])
    assert closed not in bridge.listeners[StatsUpdated]


async def test_without_an_engine_the_first_frame_comes_first_then_the_engine_is_built(tmp_path: Path) -> None:
    config = load_config(None, data_dir=tmp_path, environ={})
    app = make_app(config)
    assert app.engine_factory is not None and not app.engine_bound
    painted_before_engine: list[bool] = []
    app.call_after_refresh(lambda: painted_before_engine.append(app.engine_bound))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.engine_bound and app.bridge.inbox is not None, timeout=30)
        assert painted_before_engine == [False]
        assert [w.name for w in app.workers if w.group == "engine"] == ["engine"]
        await pilot.click("#chat-input")
        await pilot.press(*"!ping", "enter")
        await wait_for(pilot, lambda: len(app.query(BotEntry)) == 1)
        assert app.status_bar.activity == ""
    database = sqlite3.connect(tmp_path / "hololoom.sqlite3")
    assert database.execute("SELECT count(*) FROM messages").fetchone()[0] == 2
    database.close()


async def test_a_store_that_cannot_open_ends_the_app_with_one_error(tmp_path: Path) -> None:
    (tmp_path / "hololoom.sqlite3").write_bytes(b"this is not a database" * 100)
    app = make_app(load_config(None, data_dir=tmp_path, environ={}))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.startup_error is not None, timeout=30)
    assert app.startup_error is not None and app.startup_error.startswith("store error:")
    assert app.return_code == 1


async def test_marketplace_shows_the_installed_workflows(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(tab("marketplace").key)
        marketplace = app.query_one(MarketplaceTab)
        await wait_for(pilot, lambda: marketplace.settled, timeout=30)
        installed = len(app.engine.capability(WorkflowService).library)
        assert installed == 5  # the shipped workflows
        summary = str(marketplace.query_one("#mp-summary", Static).render())
        assert f"Workflows: {installed} (0 from packages)" in summary


async def test_dashboard_follows_engine_events_without_polling(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.bridge.inbox is not None)
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        screen = app.screen
        panel = screen.query_one(DashboardPanel)
        await wait_for(pilot, lambda: panel.dashboard is not None)
        first = panel.dashboard
        assert first is not None and first.open_incidents == []
        await pilot.pause(2.5)
        assert panel.dashboard is first  # no event, no new figures: nothing polls
        await LocalRoom(app.engine).post("alice", "!incident declare sev2 checkout-api 500s")
        await wait_for(pilot, lambda: bool(panel.dashboard and panel.dashboard.open_incidents))
        assert panel.dashboard.open_incidents[0]["title"] == "checkout-api 500s"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DashboardScreen))
        assert screen not in [node for nodes in app.bridge.listeners.values() for node in nodes]
