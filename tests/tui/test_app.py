"""Pilot tests: the operator types in Chat and the structured answer appears and is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import Markdown, TabbedContent

from hololoom_tui.tabs.chat import ChatTab
from hololoom_tui.tabs.multi_agent import MultiAgentTab
from hololoom_tui.widgets.chat_entries import BotEntry, PersonEntry
from hololoom_tui.widgets.composer import Composer
from hololoom_tui.widgets.status_bar import StatusBar
from tests.tui.helpers import build_app, wait_for


async def test_typing_a_question_shows_the_structured_answer_and_stores_it(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.click("#chat-input")
        await pilot.press(*"@hololoom checkout-api returns 500 errors")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.query(BotEntry)) == 1)
        entry = app.query_one(BotEntry)
        markdown = entry.query_one(Markdown).source
        for heading in ("### PLAN", "### ANSWER", "### VERIFY", "**TL;DR:**"):
            assert heading in markdown
        meta = str(entry.query_one(".entry-meta").render())
        assert "agent generalist" in meta and "quality predicted 0." in meta and "→ judged 0." in meta and " ms" in meta
        assert app.query_one(Composer).text == ""
        person = app.query_one(PersonEntry)
        assert "Operator" in str(person.render())
        await wait_for(pilot, lambda: app.query_one(StatusBar).stats.get("answers") == 1)
    database = sqlite3.connect(tmp_path / "hololoom.sqlite3")  # after exit: what is on disk
    rows = database.execute("SELECT sender, is_bot, kind FROM messages ORDER BY id").fetchall()
    assert rows == [("operator", 0, "chat"), ("hololoom", 1, "answer")]
    assert database.execute("SELECT count(*) FROM interactions").fetchone()[0] == 1
    database.close()


async def test_speaker_switch_to_bot_toggle_and_tabs(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.query_one(ChatTab)
        assert chat.speaker == "operator"
        await pilot.press("f2")
        assert chat.speaker == "alice" and chat.speaker_name == "Alice Chen"
        await pilot.press("f4")
        assert chat.to_bot
        await pilot.click("#chat-input")
        await pilot.press(*"disk full on web-03.prod")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.query(BotEntry)) == 1)
        stored = app.engine.messages.recent("#ops")
        assert stored[0].sender == "alice" and stored[1].is_bot
        await pilot.press("alt+6")
        assert app.query_one(TabbedContent).active == "multi-agent"
        await wait_for(pilot, lambda: app.query_one(MultiAgentTab).overview is not None)
        overview = app.query_one(MultiAgentTab).overview
        assert overview is not None and overview.agents[0]["answers"] == 1
        await pilot.press("alt+1")
        assert app.query_one(TabbedContent).active == "chat"


async def test_history_is_shown_after_a_restart(tmp_path: Path) -> None:
    first = build_app(tmp_path)
    async with first.run_test(size=(120, 40)) as pilot:
        await pilot.click("#chat-input")
        await pilot.press(*"!ping")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(first.query(BotEntry)) == 1)
    second = build_app(tmp_path)
    async with second.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert len(second.query(PersonEntry)) == 1 and len(second.query(BotEntry)) == 1
        assert second.query_one(StatusBar).stats["messages"] == 2


async def test_scenario_replays_live_in_the_chat(tmp_path: Path) -> None:
    from hololoom_core.transport.scenarios import load_scenario

    scenario = load_scenario("code-review")
    app = build_app(tmp_path)
    app.initial_scenario = scenario
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "scenario code-review" in app.query_one(StatusBar).activity, timeout=15)
        await wait_for(pilot, lambda: len(app.query(PersonEntry)) >= 2, timeout=15)
        assert app.query_one(ChatTab).room_id == scenario.room


async def test_command_palette_lists_tabs_speakers_and_scenarios(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Show Predictive Quality" in titles
        assert "Speak as Alice Chen" in titles
        assert "Start scenario: api-500-incident" in titles
        await pilot.press("f3")
        await pilot.pause()
        assert type(app.screen).__name__ == "ScenarioPicker"
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ != "ScenarioPicker"
