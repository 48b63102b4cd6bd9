"""The Marketplace tab, live with Pilot: search, filter, install, update and roll back with confirmation, rate."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Input, Select, Static

from hololoom_core.engine import Engine
from hololoom_core.marketplace.publish import publish
from hololoom_core.ops.workflows.service import WorkflowService
from hololoom_tui.app import make_app
from hololoom_tui.screens.market_dialogs import ConfirmChange, RatePackage
from hololoom_tui.tabs.marketplace import MarketplaceTab
from hololoom_tui.tabs.registry import tab
from tests.marketplace.support import make_config, make_key, package_folder, trusted
from tests.tui.helpers import wait_for


async def test_install_update_rollback_and_rate_from_the_tab(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", "team")
    reg = tmp_path / "reg"
    publish(package_folder(tmp_path / "src", "tab-kit", "1.0.0", category="security"), reg, key)
    config = make_config(tmp_path / "data", [{"name": "team", "url": str(reg)}], trusted(key),
                         default_registry=True)
    app = make_app(config, engine=Engine(config))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(tab("marketplace").key)
        market_tab = app.query_one(MarketplaceTab)
        await wait_for(pilot, lambda: market_tab.settled and len(market_tab.hits) >= 7, timeout=30)
        table = market_tab.query_one("#mp-list", DataTable)
        assert "tab-kit" in [str(row.value) for row in table.rows]

        market_tab.query_one("#mp-category", Select).value = "security"
        await wait_for(pilot, lambda: {hit.category for hit in market_tab.hits} == {"security"})
        market_tab.query_one("#mp-search", Input).value = "tab-kit"
        await wait_for(pilot, lambda: [hit.name for hit in market_tab.hits] == ["tab-kit"])
        await wait_for(pilot, lambda: "1.0.0" in str(market_tab.query_one("#mp-details", Static).render()))

        table.focus()
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmChange), timeout=20)
        assert "chat commands: `!tab-kit-go`" in str(app.screen.query_one("#market-dialog-text", Static).render())
        await pilot.press("y")
        service = app.engine.capability(WorkflowService)
        await wait_for(pilot, lambda: "tab-kit-flow" in service.library.definitions, timeout=20)
        await wait_for(pilot, lambda: bool(market_tab.hits) and market_tab.hits[0].installed == "1.0.0")
        assert "1 from packages" in str(market_tab.query_one("#mp-summary", Static).render())

        publish(package_folder(tmp_path / "src", "tab-kit", "1.1.0", category="security"), reg, key)
        table.focus()
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmChange), timeout=20)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.engine.find_capability(WorkflowService) is not None and
                       "1.1.0" in str(service.library.definitions["tab-kit-flow"].program[0].value), timeout=20)

        table.focus()
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmChange), timeout=20)
        await pilot.press("n")
        await wait_for(pilot, lambda: "Cancelled" in str(market_tab.query_one("#mp-progress", Static).render()))
        table.focus()
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmChange), timeout=20)
        await pilot.press("y")
        await wait_for(pilot, lambda: "1.0.0" in str(service.library.definitions["tab-kit-flow"].program[0].value),
                       timeout=20)

        table.focus()
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, RatePackage))
        await pilot.press("4", "enter", *"clear steps", "enter")
        await wait_for(pilot, lambda: (reg / "ratings" / "tab-kit.jsonl").exists())
        [rating] = [json.loads(line) for line in (reg / "ratings" / "tab-kit.jsonl").read_text().splitlines()]
        assert (rating["stars"], rating["comment"]) == (4, "clear steps")
        await wait_for(pilot, lambda: bool(market_tab.hits) and market_tab.hits[0].rating.count == 1)
