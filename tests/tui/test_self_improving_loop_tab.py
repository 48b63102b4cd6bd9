"""The Self-Improving tab shows the loop: its timeline, learned patterns, the last tune and simulation."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static, TabbedContent

from hololoom_core.improving.loop import ImprovementLoop, Weakness
from hololoom_core.improving.store import LearnedPattern
from hololoom_tui.app import make_app
from hololoom_tui.tabs.self_improving import SelfImprovingTab
from tests.tui.test_promptly_app import make_engine, wait_for

FIGURE = {"mean": 0.8, "low": 0.75, "high": 0.85, "n": 20}


async def test_the_tab_lists_the_loop_timeline_patterns_tune_and_simulation(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    loop = engine.capability(ImprovementLoop)
    loop.launch(Weakness("security", "grounded", 0.41, 0.75, 30))
    loop.records.add_pattern(LearnedPattern("incident", "wide-runbooks", "control", 0.031, 64,
                                            {"max_runbooks": 3}, True, engine.clock.now()))
    window = {"quality": FIGURE, "retry_rate": {**FIGURE, "mean": 0.2, "low": 0.1, "high": 0.3},
              "resolution_minutes": {**FIGURE, "mean": 17.5, "low": 15.0, "high": 20.0},
              "satisfaction": {**FIGURE, "mean": 4.1, "low": 3.9, "high": 4.3}}
    loop.records.save_result("simulation", {"before": window, "after": window, "seed": 11, "questions": 80,
                                            "users": 4, "improve": True, "window": 20}, engine.clock.now())
    loop.records.save_result("tune", {"best": {"retrieval": "fast-wide", "agent": "generalist", "loop": "deep-refine",
                                               "prompt": "full-spec"}, "evaluations": 200, "leaves_visited": 20,
                                      "leaves": 24, "share_of_best": 0.999, "share_of_evaluations": 0.21},
                             engine.clock.now())
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(140, 60)) as pilot:
        tab = app.query_one(SelfImprovingTab)
        app.query_one(TabbedContent).active = "self-improving"
        await pilot.pause()
        await app.room("#ops").post("alice", "disk full on db-01, no space left on device", to_bot=True)
        await wait_for(pilot, lambda: "auto-security-1" in str(tab.query_one("#si-loop", Static).render()))
        shown = str(tab.query_one("#si-loop", Static).render())
        assert "launched" in shown and "detected" in shown
        assert "for incident questions, wide-runbooks beats control by +0.031" in shown
        results = str(tab.query_one("#si-results", Static).render())
        assert "seed 11" in results and "retry rate" in results and "20%" in results
        assert "fast-wide → generalist → deep-refine" in results and "99.9% of the exhaustive best" in results
