"""The tab registry: the one list of the app's tabs, which drives bindings, compose, the palette and the tests.

Each `TabSpec` says what the tab is called, which key shows it, how to build its widget and which
bridge messages refresh it. The app composes one `TabPane` per entry, binds `key` to show it (binding
id `tab.<id>`), lists "Show <title>" in the command palette, and has the bridge post the `refresh_on`
messages to the widget. Adding a tab is one entry here plus its widget module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.widget import Widget

from hololoom_tui.bridge import (
    AnswerDeltas,
    AnswersReady,
    EngineMessage,
    ExperimentsChanged,
    FeedbackArrived,
    MarketplaceUpdated,
    MessagesStored,
    StatusUpdated,
    WorkflowRunsChanged,
)
from hololoom_tui.engine_view import EngineView
from hololoom_tui.tabs.chat import ChatTab
from hololoom_tui.tabs.marketplace import MarketplaceTab
from hololoom_tui.tabs.multi_agent import MultiAgentTab
from hololoom_tui.tabs.predictive_quality import PredictiveQualityTab
from hololoom_tui.tabs.self_improving import SelfImprovingTab
from hololoom_tui.tabs.team_learning import TeamLearningTab


@dataclass(frozen=True, slots=True)
class TabContext:
    """What a tab's widget is built from: the engine view to read and the bot's name."""

    view: EngineView
    bot_name: str


@dataclass(frozen=True, slots=True)
class TabSpec:
    """One tab: its id (also the DOM id of its pane), title, key, widget factory and refreshing messages."""

    id: str
    title: str
    key: str
    factory: Callable[[TabContext], Widget]  # the app gives the widget the id `<id>-tab`
    refresh_on: tuple[type[EngineMessage], ...]
    digit: str = ""  # the second key, without a modifier: works when no text input has the focus

    @property
    def key_help(self) -> str:
        """The keys that show the tab, as the palette and the README say them."""
        return f"{self.key} or {self.digit}" if self.digit else self.key

    @property
    def widget_id(self) -> str:
        """The DOM id of the tab's widget inside its pane."""
        return f"{self.id}-tab"

    @property
    def binding_id(self) -> str:
        """The id of the key binding that shows the tab (remappable through Textual's keymap)."""
        return f"tab.{self.id}"


_OVERVIEW_UPDATES = (AnswersReady, FeedbackArrived, ExperimentsChanged)

TABS: tuple[TabSpec, ...] = (
    TabSpec("chat", "Chat", "alt+1", lambda c: ChatTab(c.view, c.bot_name),
            (MessagesStored, AnswerDeltas, StatusUpdated), "1"),
    TabSpec("self-improving", "Self-Improving", "alt+2", lambda c: SelfImprovingTab(c.view), _OVERVIEW_UPDATES,
            "2"),
    TabSpec("team-learning", "Team Learning", "alt+3", lambda c: TeamLearningTab(c.view),
            (AnswersReady, FeedbackArrived), "3"),
    TabSpec("marketplace", "Marketplace", "alt+4", lambda c: MarketplaceTab(c.view),
            (WorkflowRunsChanged, MarketplaceUpdated), "4"),
    TabSpec("predictive-quality", "Predictive Quality", "alt+5", lambda c: PredictiveQualityTab(c.view),
            (AnswersReady, FeedbackArrived), "5"),
    TabSpec("multi-agent", "Multi-Agent", "alt+6", lambda c: MultiAgentTab(c.view), (AnswersReady, FeedbackArrived),
            "6"),
)


def tab(tab_id: str) -> TabSpec:
    """The registry entry with this id (KeyError when there is none)."""
    for spec in TABS:
        if spec.id == tab_id:
            return spec
    raise KeyError(tab_id)
