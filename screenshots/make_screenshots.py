"""Regenerate screenshots/ : an SVG and a PNG of every tab, on a short seeded incident conversation.

    python screenshots/make_screenshots.py

Uses a real engine on a temporary data dir (offline mode), replays the shipped
`api-500-incident` scenario without delays, runs an experiment over a few questions, then saves each tab with Textual's screenshot
support and renders it to PNG through headless Chromium (screenshots/render.py: the real monospace and
emoji fonts, as in a terminal).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hololoom_core.clock import SteppingClock
from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_core.marketplace.capability import MarketplaceRuntime
from hololoom_core.transport.local import LocalRoom
from hololoom_core.transport.scenarios import load_scenario, play_scenario
from hololoom_tui.app import make_app
from hololoom_tui.tabs.registry import TABS

HERE = Path(__file__).parent
SIZE = (130, 42)


QUESTIONS = [
    "disk is full on log-agg-02.prod",
    "replication lag on db-02 is 40 seconds",
    "p99 latency spiked on search-api after the deploy",
    "payments-worker keeps getting OOMKilled",
    "the TLS certificate for api.example.com expires tomorrow",
    "users get 401 when they log in",
    "queue backlog growing on the email queue",
    "connection pool exhausted on orders-api",
]


async def seed(engine: Engine) -> None:
    """Replay the API 500 incident, run an experiment over a few questions, and rate some answers."""
    scenario = load_scenario("api-500-incident")
    await play_scenario(scenario, LocalRoom(engine, room_id=scenario.room), speed=0)
    room = LocalRoom(engine, room_id=scenario.room)
    await room.post("priya", "!experiment start context-depth")
    for index, question in enumerate(QUESTIONS):
        result = await room.post("alice" if index % 2 else "bob", f"@hololoom {question}")
        answer = result.replies[0].answer if result.replies else None
        if answer is not None and answer.interaction_id is not None and index % 3 == 0:
            engine.record_feedback(answer.interaction_id, "priya", 1, "reaction", f"$screenshot-{index}")
    market = engine.capability(MarketplaceRuntime)  # one package installed (an update is available) and rated
    await market.commit(market.marketplace.plan_install("incident-war-room@==1.0.0"), "install", "operator")
    market.marketplace.rate("incident-war-room", 5, "clear roles, saved us ten minutes", user="priya")


async def capture(data_dir: Path) -> list[Path]:
    """Run the app headless and save one SVG per tab."""
    config = load_config(None, data_dir=data_dir, environ={})
    engine = Engine(config, clock=SteppingClock())
    await seed(engine)
    app = make_app(config, engine=engine)
    written: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(40):
            await pilot.pause(0.05)
            if app.status_bar.stats.get("answers"):
                break
        for spec in TABS:
            app.action_show_tab(spec.id)
            await pilot.pause(0.3)
            for _ in range(100):  # a tab that loads in a worker (the Marketplace) says when it has shown it
                if getattr(app.tab_widget(spec.id), "settled", True):
                    break
                await pilot.pause(0.05)
            await pilot.wait_for_scheduled_animations()  # the tab underline has finished moving
            path = HERE / f"{spec.id}.svg"
            app.save_screenshot(filename=path.name, path=str(HERE))
            written.append(path)
    return written


def main() -> None:
    """Write the SVGs and PNGs."""
    import sys

    sys.path.insert(0, str(HERE))
    from render import chromium, render  # type: ignore[import-not-found]

    binary = chromium()  # fail before the capture when the PNGs cannot be made
    with tempfile.TemporaryDirectory() as directory:
        svgs = asyncio.run(capture(Path(directory)))
    for svg in svgs:
        png = render(svg, binary=binary)
        print(f"wrote {svg.name} and {png.name}")


if __name__ == "__main__":
    main()
