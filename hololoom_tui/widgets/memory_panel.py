"""The memory panel beside the conversation: the room's decisions, open action items and open questions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from hololoom_tui.bridge import InsightsDetected, MemoryUpdated
from hololoom_tui.engine_view import EngineView

if TYPE_CHECKING:
    from hololoom_core.memory.items import Item
    from hololoom_core.memory.service import RoomDigest

_WIDTH = 60


def _short(text: str, limit: int = _WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def decision_line(item: Item) -> str:
    """One decision: active ones plain, reversed ones dimmed and struck through."""
    if item.status == "reversed":
        return f"[dim][s]{escape(_short(item.text))}[/s] reversed by #{item.superseded_by}[/dim]"
    return f"[b]#{item.id}[/b] {escape(_short(item.text))}"


def action_line(item: Item) -> str:
    """One open action item with its owner and due date."""
    owner = f"[b]@{escape(item.owner)}[/b] " if item.owner else "[dim]no owner[/dim] "
    due = f" [yellow]due {escape(item.due)}[/yellow]" if item.due else ""
    return f"#{item.id} {owner}{escape(_short(item.text, 48))}{due}"


def question_line(item: Item) -> str:
    """One open question and who asked it."""
    return f"#{item.id} {escape(_short(item.text, 52))} [dim]— {escape(item.author)}[/dim]"


class MemoryPanel(VerticalScroll):
    """What the room has decided, who owes what, and what is still unanswered; updated live.

    It shows the room in `room_id`, read through the engine view, and reads it again when the bridge
    says insights were detected or the memory changed.
    """

    digest: reactive[RoomDigest | None] = reactive(None, always_update=True)
    room_id: reactive[str] = reactive("")

    def __init__(self, view: EngineView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view

    def watch_room_id(self) -> None:
        self.refresh_digest()

    def refresh_digest(self) -> None:
        """Read the shown room's digest now."""
        if self.view.ready and self.room_id:
            self.digest = self.view.room_digest(self.room_id)

    @on(InsightsDetected)
    @on(MemoryUpdated)
    def _memory_changed(self) -> None:
        self.refresh_digest()

    def compose(self) -> ComposeResult:
        """A title and three sections."""
        yield Static("[b]Memory[/b]", classes="pane-title", id="memory-title")
        yield Static("", id="memory-decisions", classes="memory-section")
        yield Static("", id="memory-actions", classes="memory-section")
        yield Static("", id="memory-questions", classes="memory-section")

    def on_mount(self) -> None:
        """Render whatever digest was set before mounting."""
        self._show_digest(self.digest)

    def watch_digest(self, digest: RoomDigest | None) -> None:
        if self.is_mounted:
            self._show_digest(digest)

    def _show_digest(self, digest: RoomDigest | None) -> None:
        if digest is None and not self.view.ready:
            self.query_one("#memory-decisions", Static).update("[dim]starting…[/dim]")
            return
        if digest is None:
            self.query_one("#memory-decisions", Static).update("[dim]memory is not available[/dim]")
            self.query_one("#memory-actions", Static).update("")
            self.query_one("#memory-questions", Static).update("")
            return
        self.query_one("#memory-title", Static).update(f"[b]Memory[/b] [dim]{escape(digest.room_id)}[/dim]")
        sections = (
            ("#memory-decisions", "Decisions", digest.decisions, decision_line, "none yet"),
            ("#memory-actions", "Open action items", digest.actions, action_line, "none open"),
            ("#memory-questions", "Open questions", digest.questions, question_line, "none open"),
        )
        for selector, title, items, line, empty in sections:
            body = "\n".join(line(item) for item in items) if items else f"[dim]{empty}[/dim]"
            self.query_one(selector, Static).update(f"[b $accent]{title}[/] [dim]({len(items)})[/dim]\n{body}")
