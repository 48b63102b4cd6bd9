"""One SVG snapshot per tab, on fixed data with a stepping clock (pytest-textual-snapshot).

Review the report before `pytest --snapshot-update`: the SVGs under tests/tui/__snapshots__ are
what the app must look like.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TabbedContent

from hololoom_core.memory.service import MemoryService
from hololoom_core.transport.local import LocalRoom
from hololoom_tui.app import HoloLoomApp
from hololoom_tui.tabs.registry import TABS, TabSpec
from hololoom_tui.widgets.composer import Composer
from tests.tui.helpers import build_app, wait_for

SNAPSHOT_DATA = Path("/tmp/hololoom-snapshot-data")  # fixed: the status bar shows the data path
CONVERSATION = [
    ("alice", "checkout-api started returning 500 errors right after the 14:02 config push", False),
    ("bob", "logs show QueuePool limit of size 5 overflow 0 reached on checkout-api", False),
    ("alice", "checkout-api is throwing 500 internal server errors, what should I check first?", True),
    ("priya", "!ping", False),
]


def seeded_app() -> HoloLoomApp:
    """An app on a fresh fixed data dir holding a short incident conversation."""
    shutil.rmtree(SNAPSHOT_DATA, ignore_errors=True)
    app = build_app(SNAPSHOT_DATA, stepping_clock=True)
    # Load the router's model first: its first load waits on a thread, which would let background work
    # (embedding the earlier messages) finish sooner or later depending on which tests ran before.
    from hololoom_core.agents.service import MultiAgentService

    app.engine.capability(MultiAgentService).router.model()

    async def seed() -> None:
        room = LocalRoom(app.engine)
        memory = app.engine.capability(MemoryService)
        for sender, text, to_bot in CONVERSATION:
            await memory.idle()  # what the answer can cite must not depend on how fast embedding ran
            await room.post(sender, text, to_bot=to_bot)
        await memory.idle()

    asyncio.run(seed())
    return app


@pytest.mark.parametrize("spec", TABS, ids=[f"{spec.id}-{spec.title}" for spec in TABS])
def test_tab_snapshot(snap_compare: Any, spec: TabSpec) -> None:
    app = seeded_app()
    tab_id = spec.id

    async def show_tab(pilot: Pilot[None]) -> None:
        for field in app.query(Composer):
            field.cursor_blink = False  # a blinking cursor would make the snapshot depend on timing
        await wait_for(pilot, lambda: bool(app.status_bar.stats.get("answers")) and app.focused is not None)
        # Start-up (initial tab, focus on the composer) can still switch back to Chat once: insist.
        tabs = app.query_one(TabbedContent)
        for _ in range(3):
            app.action_show_tab(tab_id)
            await pilot.pause(0.3)
            if tabs.active == tab_id:
                break
        assert tabs.active == tab_id
        # A tab that loads its data in a worker (the Marketplace) says when its first load is shown.
        await wait_for(pilot, lambda: bool(getattr(app.tab_widget(tab_id), "settled", True)), timeout=30)
        tab = app.tab_widget(tab_id)  # the tab takes the focus (its table, else itself) so its keys work
        await wait_for(pilot, lambda: app.focused is not None and tab in app.focused.ancestors_with_self)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=show_tab)


async def settle(pilot: Pilot[None], timeout: float = 20.0) -> None:
    """Wait until the screen stops changing: three exports in a row, 0.2 s apart, alike.

    On a loaded machine the footer, the tables and the charts can each land a frame or two later
    than on an idle one; a snapshot taken mid-way would fail for a reason that is not a change.
    """
    await pilot.wait_for_scheduled_animations()
    app = pilot.app
    previous, alike, waited = app.export_screenshot(), 0, 0.0
    while alike < 2:
        if waited >= timeout:
            raise AssertionError("the screen kept changing")
        await pilot.pause(0.2)
        waited += 0.2
        current = app.export_screenshot()
        alike = alike + 1 if current == previous else 0
        previous = current
