"""The Chat tab's memory panel: decisions, open action items and open questions of the room, live."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from hololoom_core.clock import SteppingClock
from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_tui.app import make_app
from hololoom_tui.widgets.memory_panel import MemoryPanel


def panel_text(app, selector: str) -> str:
    return str(app.query_one(MemoryPanel).query_one(selector, Static).render())


async def wait_for(pilot, predicate, tries: int = 100) -> None:
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


async def test_memory_panel_follows_the_room_live(tmp_path: Path) -> None:
    config = load_config(None, data_dir=tmp_path, environ={"HOLOLOOM_CONFIG_MODE": "bare"})
    engine = Engine(config, clock=SteppingClock(step=1.0))
    app = make_app(config, engine=engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert "none yet" in panel_text(app, "#memory-decisions")
        room = app.room("#ops")
        await room.post("priya", "We decided to roll back the checkout-api config change now.")
        await room.post("priya", "Action item: @bob to write the postmortem by Friday")
        await room.post("alice", "Why is the nightly backup job slow on db-02.prod?")
        await wait_for(pilot, lambda: "postmortem" in panel_text(app, "#memory-actions"))
        await wait_for(pilot, lambda: "backup job" in panel_text(app, "#memory-questions"))
        assert "roll back the checkout-api" in panel_text(app, "#memory-decisions")
        assert "@bob" in panel_text(app, "#memory-actions")
        await room.post("bob", "Change of plan: we won't roll back the checkout-api config change, fix forward instead.")
        await wait_for(pilot, lambda: "reversed by" in panel_text(app, "#memory-decisions"))
        await room.post("marco", "The backup job is slow because vacuum runs at the same time on db-02.prod.")
        await wait_for(pilot, lambda: "backup job" not in panel_text(app, "#memory-questions"))
        await app.room("#db").post("marco", "Decision: freeze schema changes until Monday.")
        await pilot.pause(0.2)
        assert "freeze schema" not in panel_text(app, "#memory-decisions")  # another room
        app._show_room("#db")
        await wait_for(pilot, lambda: "freeze schema" in panel_text(app, "#memory-decisions"))
        assert "roll back" not in panel_text(app, "#memory-decisions")
