"""The Team Learning tab: the feedback the team gave and the answers good enough to learn from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import Static

from hololoom_tui.tabs.base import OverviewTab

if TYPE_CHECKING:
    from hololoom_core.engine.overview import EngineOverview


class TeamLearningTab(OverviewTab):
    """Feedback counts and high-quality answers."""

    TITLE = "Team Learning — feedback"
    NOTE = "Training examples mined from good conversations, and what the team's reactions taught, will appear here."

    def compose_body(self) -> ComposeResult:
        yield Static("", id="tl-figures")

    def render_overview(self, overview: EngineOverview) -> None:
        answers = overview.stats.get("answers", 0)
        self.query_one("#tl-figures", Static).update(
            f"👍 {overview.feedback_up}   👎 {overview.feedback_down}   "
            f"answers judged ≥ 0.80: {overview.high_quality_answers} of {answers}"
        )
