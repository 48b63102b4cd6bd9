"""Operator experience in the app: tab keys, the multi-line composer, 👍/👎, long answers, screenshots, markup."""

from __future__ import annotations

import functools
import sqlite3
import time
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Collapsible, Markdown, TabbedContent, Tabs

from hololoom_core.models import StoredMessage
from hololoom_tui.app import HoloLoomApp
from hololoom_tui.widgets.chat_entries import BotEntry, PersonEntry
from hololoom_tui.widgets.composer import Composer
from hololoom_tui.widgets.long_answer import split_answer
from tests.tui.helpers import build_app, wait_for

FENCED_REVIEW = "!review\n```python\nimport os\n\ndef run(cmd):\n    os.system(cmd)\n```"


async def test_alt_digits_switch_tabs_from_the_composer_and_plain_digits_elsewhere(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        tabs = app.query_one(TabbedContent)
        composer = app.query_one(Composer)
        assert app.focused is composer
        await pilot.press("alt+3")
        assert tabs.active == "team-learning"
        await pilot.press("alt+1")
        assert tabs.active == "chat" and app.focused is composer and composer.text == ""
        await pilot.press("4")  # typed into the composer, not a tab switch
        assert tabs.active == "chat" and composer.text == "4"
        composer.clear_text()
        await pilot.press("escape")  # leave the composer: digits switch tabs now
        assert app.focused is not composer
        await pilot.press("5")
        assert tabs.active == "predictive-quality"
        await pilot.press("trade_mark_sign")  # what a macOS terminal types for Option+2
        assert tabs.active == "self-improving"
        await pilot.press("1")
        assert tabs.active == "chat"


async def test_a_tab_shown_by_its_key_takes_the_focus_so_its_own_keys_work_at_once(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.focused, Composer))
        expected = {"alt+3": ("tl-examples", "e"), "alt+4": ("mp-list", "i"), "alt+6": ("ma-log", "c")}
        for key, (table_id, tab_key) in expected.items():
            await pilot.press(key)
            await wait_for(pilot, lambda table_id=table_id: app.focused is not None and app.focused.id == table_id)
            assert tab_key in {binding.binding.key for binding in app.screen.active_bindings.values()}
        await pilot.press("alt+2")  # no table with a cursor: the tab itself, which scrolls
        await wait_for(pilot, lambda: app.focused is app.tab_widget("self-improving"))
        app.query_one(Tabs).focus()  # walking the tab strip keeps the focus on it
        await pilot.press("right")
        await wait_for(pilot, lambda: app.query_one(TabbedContent).active == "team-learning")
        await pilot.pause(0.2)
        assert isinstance(app.focused, Tabs)
        await pilot.press("alt+1")
        await wait_for(pilot, lambda: isinstance(app.focused, Composer))


def test_escape_digit_from_a_terminal_parses_as_alt_digit() -> None:
    from textual._xterm_parser import XTermParser

    from hololoom_tui.keys import enable_alt_digit_keys

    enable_alt_digit_keys()
    keys: list[str] = []
    for data in ("\x1b2", "\x1b6"):
        parser = XTermParser()
        keys += [event.key for event in parser.feed(data) if isinstance(event, events.Key)]
        time.sleep(0.2)  # the escape delay: the terminal sent nothing more
        keys += [event.key for event in parser.tick() if isinstance(event, events.Key)]
    assert keys == ["alt+2", "alt+6"]


async def test_composer_enter_sends_newline_keys_add_lines_and_up_recalls(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        composer = app.query_one(Composer)
        await pilot.press(*"!ping", "ctrl+j", *"second", "shift+enter", *"third")
        assert composer.text == "!ping\nsecond\nthird"
        composer.clear_text()
        await pilot.press(*"!ping", "enter")
        await wait_for(pilot, lambda: len(app.query(BotEntry)) == 1)
        assert composer.text == ""
        assert [m.body for m in app.engine.messages.recent("#ops") if not m.is_bot] == ["!ping"]
        await pilot.press("up")
        assert composer.text == "!ping"
        await pilot.press("down")
        assert composer.text == ""


async def test_pasted_fenced_review_keeps_its_newlines_and_is_reviewed(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(events.Paste(FENCED_REVIEW))  # what the terminal's bracketed paste delivers
        await pilot.pause()
        composer = app.query_one(Composer)
        assert composer.text == FENCED_REVIEW
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.query(BotEntry)) == 1)
        review = app.query_one(BotEntry).message.body
        assert "Code review of `snippet.py`" in review and "B605" in review
        stored = [m.body for m in app.engine.messages.recent("#ops") if not m.is_bot]
        assert stored == [FENCED_REVIEW]


async def test_thumbs_from_keys_buttons_and_palette_reach_the_engine(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"@hololoom disk full on web-03.prod", "enter")
        await wait_for(pilot, lambda: len(app.query(BotEntry)) == 1)
        entry = app.query_one(BotEntry)
        await pilot.press("f7")  # the newest answer, from the composer
        assert entry.rating == 1 and "you: 👍" in str(entry.query_one(".entry-rating").render())
        await pilot.press("escape")  # the newest answer gets the focus
        assert app.focused is entry
        await pilot.press("minus")
        assert entry.rating == -1
        entry.query_one(".rate-up").scroll_visible(animate=False)
        await pilot.pause()
        await pilot.click(".rate-up")
        await pilot.pause()
        assert entry.rating == 1
        rows = app.engine.store.query("SELECT user_id, value, source FROM feedback")
        assert [tuple(row) for row in rows] == [("operator", 1, "app")]
        interaction = app.engine.store.query_one("SELECT feedback, feedback_count FROM interactions")
        assert interaction is not None and tuple(interaction) == (1, 1)
        app.action_rate_answer(-1)  # what the palette's "Rate answer 👎" runs
        await pilot.pause()
        assert entry.rating == -1
    database = sqlite3.connect(tmp_path / "hololoom.sqlite3")
    assert database.execute("SELECT value, source FROM feedback").fetchall() == [(-1, "app")]
    database.close()
    again = build_app(tmp_path)  # the rating is shown again after a restart
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert again.query_one(BotEntry).rating == -1


async def test_palette_lists_rating_commands(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Rate answer 👍" in titles and "Rate answer 👎" in titles


def _has_answers(app: HoloLoomApp, count: int) -> bool:
    return len(app.query(BotEntry)) == count


def _long_answer() -> str:
    plan = "\n".join(f"{n}. step {n}" for n in range(1, 15))
    answer = "\n".join(f"- fact {n}" for n in range(1, 40))
    return (f"### PLAN\n{plan}\n\n### ANSWER\n{answer}\n\n### VERIFY\n1. check it\n\n"
            "**TL;DR:** restart the pool, then verify.\n\n_Offline engine._ Sources: none.")


def test_a_long_answer_splits_into_tldr_sections_and_footer() -> None:
    parts = split_answer(_long_answer())
    assert parts.tldr == "restart the pool, then verify."
    assert [title for title, _ in parts.sections] == ["PLAN", "ANSWER", "VERIFY"]
    assert "fact 39" in parts.sections[1][1] and parts.footer.startswith("_Offline engine._")


async def test_long_answers_start_collapsed_and_show_all_opens_them(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        message = StoredMessage(id=99, event_id="$x", room_id="#ops", sender="hololoom", body=_long_answer(),
                                ts=0.0, is_bot=True, kind="answer", meta={"interaction_id": None},
                                transport="local")
        app.chat.add_message(message)
        await pilot.pause()
        entry = app.query_one(BotEntry)
        sections = list(entry.query(Collapsible))
        assert len(sections) == 3 and all(section.collapsed for section in sections)
        assert "TL;DR" in entry.query_one(".entry-tldr", Markdown).source
        await pilot.click(".show-all")
        await pilot.pause()
        assert not any(section.collapsed for section in sections)


async def test_the_conversation_follows_new_output_at_the_bottom_and_after_a_resize(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        for number in range(6):
            await pilot.press(*f"@hololoom disk full on web-0{number}.prod", "enter")
            await wait_for(pilot, functools.partial(_has_answers, app, number + 1))
        await pilot.pause(0.3)
        view = app.chat.messages_view
        assert view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y
        await pilot.resize_terminal(100, 24)
        await pilot.pause(0.3)
        assert view.scroll_y == view.max_scroll_y


async def test_screenshot_goes_to_the_data_dir_without_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platformdirs.user_downloads_path", lambda: tmp_path / "no-such-downloads")
    app = build_app(tmp_path / "data")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.deliver_screenshot()
        await wait_for(pilot, lambda: any((tmp_path / "data" / "screenshots").glob("*.svg")))
    saved = next((tmp_path / "data" / "screenshots").glob("*.svg"))
    assert saved.read_text(encoding="utf-8").startswith("<svg")


async def test_markup_in_room_user_and_message_is_shown_not_parsed(tmp_path: Path) -> None:
    app = build_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.room("#ops[/]").post("[b]bob[/]", "hello [/] [red]x @hololoom [/b] disk full", to_bot=True)
        app._show_room("#ops[/]")
        app.set_speaker("[b]bob[/]")
        await pilot.pause()
        await pilot.press("ctrl+p", *"Open room")
        await pilot.pause(0.3)
        await pilot.press("escape", "f6", "f6")
        await pilot.pause()
        assert app.chat.room_id == "#ops[/]"
        person = app.query_one(PersonEntry)
        assert "[/] [red]x" in str(person.render())
        assert "#ops[/]" in str(app.query_one("#room-title").render())


async def test_memory_items_wrap_at_words_and_show_in_full_with_the_focus(tmp_path: Path) -> None:
    from hololoom_tui.widgets.memory_panel import MemorySection

    app = build_app(tmp_path)
    long_item = ("TODO: add a CI check that blocks prod overlays from setting pool_size below ten in ops-config "
                 "and page the database team whenever someone overrides it by hand")
    async with app.run_test(size=(140, 40)) as pilot:
        await app.room("#ops").post("marco", long_item)
        section = app.query_one("#memory-actions", MemorySection)
        await wait_for(pilot, lambda: "TODO" in str(section.render()))
        shown = str(section.render())
        assert "by hand" not in shown and " …" in shown
        cut = shown.split(" …")[0].split()[-1]
        assert cut in long_item.split()  # the last word shown is a whole word
        section.focus()
        await pilot.pause()
        assert app.focused is section, app.focused
        assert section.has_focus, "no has_focus"
        assert section.items and len(section.items[0].text) > 96, section.items[0].text
        assert "by hand" in str(section.render())
        app.chat.focus_composer()
        await pilot.pause()
        assert "by hand" not in str(section.render())
