"""The Promptly layer in the app: live experiments on Self-Improving, the per-answer judge/loop expander,
and answers streaming into Chat."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.table import Table
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TabbedContent

from hololoom_core.clock import SteppingClock
from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.promptly.experiments import ExperimentService
from hololoom_core.testing.ollama_server import OllamaWireServer
from hololoom_tui.app import make_app
from hololoom_tui.tabs.self_improving import SelfImprovingTab
from hololoom_tui.widgets.answer_details import AnswerDetails
from hololoom_tui.widgets.answer_stream import StreamingAnswer
from hololoom_tui.widgets.chat_entries import BotEntry
from hololoom_tui.widgets.composer import Composer


def make_engine(tmp_path: Path, **sections: Any) -> Engine:
    data = {"hololoom": {"data_dir": str(tmp_path)}, **sections}
    return Engine(Config.model_validate(data), clock=SteppingClock())


async def wait_for(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until the predicate holds."""
    waited = 0.0
    while not predicate():
        await pilot.pause(0.05)
        waited += 0.05
        assert waited < timeout, "timed out waiting for the app"


def screen_text(pilot: Pilot[None]) -> str:
    """The visible screen as plain-ish text (from the SVG export)."""
    svg = pilot.app.export_screenshot()
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " "))


async def test_self_improving_tab_shows_experiment_live_and_promotion(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, promptly={"experiments": {
        "seed": 5, "min_samples": 3, "min_samples_each": 1, "promote_probability": 0.6}})
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(140, 60)) as pilot:
        tab = app.query_one(SelfImprovingTab)
        app.query_one(TabbedContent).active = "self-improving"
        await pilot.pause()
        assert "No experiment has run yet" in str(tab.query_one("#si-experiment-summary", Static).render())
        room = app.room("#ops")
        await room.post("alice", "!experiment start context-depth")
        await wait_for(pilot, lambda: tab.query_one("#si-variants", DataTable).row_count == 2)
        table = tab.query_one("#si-variants", DataTable)
        assert [table.get_row_at(i)[0] for i in range(2)] == ["lean", "rich"]
        assert [table.get_row_at(i)[1] for i in range(2)] == ["0", "0"]
        for number in range(4):
            await room.post("bob", f"@hololoom disk full on db-{number}, no space left on device")

        def pulls() -> int:
            return sum(int(table.get_row_at(i)[1]) for i in range(table.row_count)) if table.row_count else 0

        await wait_for(pilot, lambda: pulls() == 4 or "promoted" in str(
            tab.query_one("#si-experiment-summary", Static).render()))
        text = screen_text(pilot)
        assert "context-depth" in text and "P(best)" in text and "posterior" in text
        assert "━" in text and "●" in text  # the interval chart
        for number in range(4, 30):
            active = engine.capability(ExperimentService).active()
            assert active is not None
            if active["status"] == "promoted":
                break
            await room.post("bob", f"@hololoom disk full on db-{number}, no space left on device")
        await wait_for(pilot, lambda: "promoted" in str(tab.query_one("#si-promotions", Static).render()))
        summary = str(tab.query_one("#si-experiment-summary", Static).render())
        active = engine.capability(ExperimentService).active()
        assert active is not None
        winner = active["winner"]
        assert f"promoted → {winner}" in summary
        assert f"{winner} promoted at P(best)" in str(tab.query_one("#si-promotions", Static).render())


async def test_answer_expands_to_verdict_per_criterion_and_loop_steps(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(140, 50)) as pilot:
        chat_input = app.query_one("#chat-input", Composer)
        chat_input.focus()
        chat_input.load_text("@hololoom disk full on db-01, no space left on device")
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(app.query(AnswerDetails)))
        details = app.query_one(AnswerDetails)
        assert details.collapsed
        assert details.title.startswith("judge heuristic ") and details.title.endswith("6 loop step(s)")  # with the forecast
        assert details.judge is not None
        assert set(details.judge["criteria"]) == {"structure", "grounded", "actionable", "concise", "safe"}
        details.collapsed = False
        await wait_for(pilot, lambda: "all found in the sources" in screen_text(pilot))
        text = screen_text(pilot)
        for name in ("structure", "grounded", "actionable", "concise", "safe"):
            assert name in text
        verdict_table = details.query_one(".answer-verdict", Static).content
        assert isinstance(verdict_table, Table)
        reasons = list(verdict_table.columns[3].cells)  # the reason column, one row per criterion
        assert len(reasons) == 5 and any("runbook(s) and" in str(reason) for reason in reasons)
        steps = str(details.query_one(".answer-steps", Static).render())  # the widget's text, not the wrapped screen
        assert "loop: generate -> judge -> refine until quality >= 0.8 max 2 -> verify" in steps
        assert "verify:" in steps and "all found in the sources" in steps
        # the meta that feeds the expander is stored with the bot message, so history shows it too
        stored = engine.messages.recent("#ops", limit=5)[-1]
        assert stored.meta["judge"]["criteria"] and [s["step"] for s in stored.meta["loop_steps"]][:2] == ["predict", "loop"]


async def test_chat_streams_tokens_then_shows_the_finished_answer(tmp_path: Path) -> None:
    answer = ("### PLAN\n1. Use the runbook.\n\n### ANSWER\n" + " ".join(f"word{n}" for n in range(60))
              + "\n1. `df -hT`\n\n### VERIFY\n1. `df -h`\n\n**TL;DR:** Free disk space on db-01.")

    def responder(endpoint: str, request: dict[str, Any]) -> str:
        return '{"unsupported": []}' if request.get("format") else answer

    with OllamaWireServer(responder=responder, token_delay=0.02) as server:
        engine = make_engine(tmp_path, llm={"provider": "ollama", "host": server.url},
                             promptly={"judge": "heuristic", "loop": "generate -> judge"})
        app = make_app(engine.config, engine=engine)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: engine.status.get("llm", {}).get("state") == "ok")
            send: Callable[[], Awaitable[Any]] = lambda: app.room("#ops").post(  # noqa: E731
                "alice", "@hololoom disk full on db-01?")
            app.run_worker(send(), group="test-send")
            await wait_for(pilot, lambda: any(s.received for s in app.query(StreamingAnswer)))
            stream = app.query_one(StreamingAnswer)
            partial = stream.received
            assert partial and answer.startswith(partial) and len(partial) < len(answer)
            await wait_for(pilot, lambda: not app.query(StreamingAnswer) and any(
                entry.message.kind == "answer" for entry in app.query(BotEntry)))
            final = [entry for entry in app.query(BotEntry) if entry.message.kind == "answer"][-1]
            assert final.message.meta["provider"] == "ollama"
            assert "word59" in final.message.body
