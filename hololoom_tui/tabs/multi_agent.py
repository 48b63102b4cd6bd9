"""The Multi-Agent tab, live: the five agents, the routing log, collaborations and the router's measured accuracy.

Keys: `c` corrects the routing selected in the log (pick the right agent), `k` asks the agents to
collaborate on the selected question (it is sent to the chat room as `!collab QUESTION`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option

from hololoom_tui.format import clock_time, quality_text, shorten
from hololoom_tui.tabs.base import OverviewTab
from hololoom_tui.widgets.fitted_table import FittedTable

if TYPE_CHECKING:
    from hololoom_core.engine.overview import EngineOverview


class AgentPicker(ModalScreen[str | None]):
    """A short list of the agents; Enter picks one, Escape cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="multi-agent.cancel")]

    def __init__(self, agents: list[tuple[str, str]], title: str) -> None:
        super().__init__()
        self.agents = agents
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="ma-picker-title")
        yield OptionList(*(Option(f"{agent_id} — {name}", id=agent_id) for agent_id, name in self.agents),
                         id="ma-picker")

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class MultiAgentTab(OverviewTab):
    """Agents with state and record, who decided each routing and why, collaborations, router accuracy."""

    DEFAULT_CSS = """
    MultiAgentTab DataTable { height: auto; max-height: 14; }
    MultiAgentTab .ma-heading { margin-top: 1; }
    """

    TITLE = "Multi-Agent — five specialists, an explainable router, collaborations"
    NOTE = ("Select a routing in the log: [b]c[/b] corrects it (the router refits in the background), "
            "[b]k[/b] asks the agents to collaborate on that question. In chat: reply `!route AGENT` to an "
            "answer, or `!collab QUESTION`.")

    BINDINGS = [
        Binding("c", "correct_routing", "Correct routing", id="multi-agent.correct"),
        Binding("k", "collaborate", "Collaborate", id="multi-agent.collaborate"),
    ]

    @dataclass
    class Correct(Message):
        """The operator says this answer should have gone to `agent`."""

        interaction_id: int
        agent: str

    @dataclass
    class Collaborate(Message):
        """The operator asks the agents to answer this question together."""

        question: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log_rows: list[dict[str, Any]] = []
        self.agent_names: list[tuple[str, str]] = []

    def compose_body(self) -> ComposeResult:
        agents: FittedTable = FittedTable(id="ma-agents", cursor_type="none", zebra_stripes=True)
        agents.add_columns("agent", "name", "state", "answers", "mean quality", "feedback", "corrections")
        yield agents
        yield Static("", id="ma-router")
        yield Static("[b]Routing log[/b] (newest first)", classes="ma-heading")
        log: FittedTable = FittedTable(id="ma-log", cursor_type="row", zebra_stripes=True)
        log.add_columns("#", "time", "question", "agent", "conf", "runner-up", "decided by", "reason")
        yield log
        yield Static("[b]Collaborations[/b]", classes="ma-heading")
        collaborations: FittedTable = FittedTable(id="ma-collaborations", cursor_type="none", zebra_stripes=True)
        collaborations.add_columns("#", "question", "contributions (judge)", "agreement", "agreed/single/conflicts",
                                   "final", "final TL;DR")
        yield collaborations

    def render_overview(self, overview: EngineOverview) -> None:
        data = overview.extra.get("agents")
        table = self.query_one("#ma-agents", DataTable)
        table.clear()
        per_agent = {agent["name"]: agent for agent in overview.agents}
        if not data:
            for agent in overview.agents:
                table.add_row(agent["name"], agent["brief"], "idle", str(agent["answers"]),
                              quality_text(agent["mean_quality"]), f"{agent['feedback']:+d}", "—")
            self.query_one("#ma-router", Static).update("[dim]Multi-agent routing is off (features.multi_agent).[/dim]")
            return
        self.agent_names = [(agent["id"], agent["name"]) for agent in data["agents"]]
        for agent in data["agents"]:
            figures = per_agent.get(agent["id"], {})
            state = agent["state"]
            styled = {"idle": "[dim]idle[/dim]", "answering": "[b yellow]answering[/b yellow]",
                      "collaborating": "[b magenta]collaborating[/b magenta]"}.get(state, state)
            table.add_row(agent["id"], agent["name"], styled, str(figures.get("answers", 0)),
                          quality_text(figures.get("mean_quality")), f"{int(figures.get('feedback') or 0):+d}",
                          str(agent["corrections"]))
        self.query_one("#ma-router", Static).update(router_text(data))
        self._render_log(data["routing_log"])
        self._render_collaborations(data["collaborations"])

    def _render_log(self, rows: list[dict[str, Any]]) -> None:
        log = self.query_one("#ma-log", DataTable)
        cursor = log.cursor_row
        log.clear()
        self.log_rows = rows
        for row in rows:
            agent = row["agent"] + (f" → {row['corrected_to']}" if row.get("corrected_to") else "")
            if len(row.get("agents") or []) > 1:
                agent = "+".join(row["agents"])
            confidence = "—" if row["confidence"] is None else f"{row['confidence']:.2f}"
            runner = "—" if not row["runner_up"] else f"{row['runner_up']} (Δ{float(row['margin'] or 0):.2f})"
            log.add_row(str(row["interaction_id"]), clock_time(row["ts"]), shorten(row["question"], 28), agent,
                        confidence, runner, row["decided_by"], shorten(row["reason"], 44))
        if rows:
            log.move_cursor(row=min(max(cursor, 0), len(rows) - 1))

    def _render_collaborations(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one("#ma-collaborations", DataTable)
        table.clear()
        for row in rows:
            contributions = ", ".join(f"{c['agent']} {quality_text(c['quality'])}" for c in row["contributions"])
            table.add_row(str(row["interaction_id"]), shorten(row["question"], 30), contributions,
                          quality_text(row["agreement"]), f"{row['agreed']}/{row['single']}/{row['conflicts']}",
                          quality_text(row["quality"]), shorten(row["final"], 40))

    def selected_routing(self) -> dict[str, Any] | None:
        """The routing-log row under the cursor, or None."""
        log = self.query_one("#ma-log", DataTable)
        if not self.log_rows or log.cursor_row < 0 or log.cursor_row >= len(self.log_rows):
            return None
        return self.log_rows[log.cursor_row]

    def action_correct_routing(self) -> None:
        """Pick the agent the selected answer should have gone to."""
        row = self.selected_routing()
        if row is None or not self.agent_names:
            self.notify("No routing selected: ask the bot something first.", severity="warning")
            return

        def chosen(agent: str | None) -> None:
            if agent:
                self.post_message(self.Correct(int(row["interaction_id"]), agent))

        self.app.push_screen(AgentPicker(self.agent_names, f"Answer #{row['interaction_id']} should have gone to:"),
                             chosen)

    def action_collaborate(self) -> None:
        """Ask the agents to answer the selected question together."""
        row = self.selected_routing()
        if row is None:
            self.notify("No question selected: ask the bot something first.", severity="warning")
            return
        self.post_message(self.Collaborate(row["question"]))


def router_text(data: dict[str, Any]) -> str:
    """The router's model, what it rests on, and its measured accuracy (held-out and over labelled decisions)."""
    router = data.get("router") or {}
    model = router.get("model")
    accuracy = data.get("accuracy") or {}
    if model is None:
        line = "Router: [dim]loading (fitted or read from the cache off the event loop)…[/dim]"
    else:
        held = model.get("held_out") or {}
        held_text = (f"held-out top-1 [b]{held['top1']:.2f}[/b] (n={held['n']})" if held else "held-out: not measured")
        line = (f"Router: {model['version']} · {model['examples']} examples ({model['corrections']} from "
                f"corrections) · temperature {model['temperature']:.2f} · {held_text} · refits {router.get('refits', 0)}"
                + (" · [yellow]refitting…[/yellow]" if router.get("refitting") else ""))
    if accuracy.get("n"):
        per_agent = ", ".join(f"{agent} {entry['accuracy']:.2f} (n={entry['n']})"
                              for agent, entry in sorted(accuracy["per_agent"].items()))
        line += (f"\nAccuracy over operator-labelled decisions: [b]{accuracy['accuracy']:.2f}[/b] "
                 f"(n={accuracy['n']}) · per true agent: {per_agent}")
    else:
        line += "\nAccuracy over operator-labelled decisions: [dim]no labels yet (correct or confirm with c / !route)[/dim]"
    return line
