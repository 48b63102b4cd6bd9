"""Pilot test of the Multi-Agent tab: live agents, routing log, correcting a routing, asking for a collaboration."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, OptionList, Static, TabbedContent

from hololoom_core.agents.service import MultiAgentService
from hololoom_core.transport.local import LocalRoom
from hololoom_tui.tabs.multi_agent import AgentPicker, MultiAgentTab
from tests.tui.helpers import build_app, wait_for


async def test_tab_shows_routing_lets_the_operator_correct_it_and_start_a_collaboration(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_for(pilot, lambda: app.engine.find_capability(MultiAgentService) is not None
                       and app.focused is not None, 30)
        service = app.engine.capability(MultiAgentService)
        room = LocalRoom(app.engine)
        await room.post("alice", "how do i roll back the last deploy of checkout-api", to_bot=True)
        await pilot.press("alt+6")
        assert app.query_one(TabbedContent).active == "multi-agent"
        tab = app.query_one(MultiAgentTab)
        log = tab.query_one("#ma-log", DataTable)
        await wait_for(pilot, lambda: log.row_count == 1, 30)
        row = [str(cell) for cell in log.get_row_at(0)]
        assert row[3] == "deployment" and row[6] == "router" and "matched" in row[7]
        agents = tab.query_one("#ma-agents", DataTable)
        assert agents.row_count == 5
        deployment = [str(cell) for cell in agents.get_row_at(3)]
        assert deployment[0] == "deployment" and deployment[3] == "1" and "idle" in deployment[2]
        assert "held-out top-1" in str(tab.query_one("#ma-router", Static).render())
        palette = [command.title for command in app.get_system_commands(app.screen)]
        assert "Correct the selected routing" in palette and "Ask the agents to collaborate" in palette

        log.focus()
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, AgentPicker))
        picker = app.screen.query_one(OptionList)
        picker.highlighted = 0  # incident
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(service.corrections.all()) == 1)
        correction = service.corrections.all()[0]
        assert (correction.routed, correction.correct, correction.source) == ("deployment", "incident", "app")
        await service.router.wait_for_refit()
        await wait_for(pilot, lambda: "→ incident" in str(log.get_row_at(0)[3]), 15)
        assert "n=1" in str(tab.query_one("#ma-router", Static).render())

        log.focus()
        await pilot.press("k")
        await wait_for(pilot, lambda: app.query_one(TabbedContent).active == "chat")
        await wait_for(pilot, lambda: bool(service.collaborations()), 60)
        collaboration = service.collaborations()[0]
        assert collaboration["question"] == "how do i roll back the last deploy of checkout-api"
        assert len(collaboration["contributions"]) >= 2 and 0 <= collaboration["agreement"] <= 1
        await pilot.press("alt+6")
        table = tab.query_one("#ma-collaborations", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, 15)
