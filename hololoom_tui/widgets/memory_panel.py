"""The memory panel beside the conversation: the room's decisions, open action items and open questions."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
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

_WIDTH = 96  # about three lines of the panel; the focused section shows every item whole


def _short(text: str, limit: int = _WIDTH) -> str:
    """The text on one line, shortened at a word boundary (never mid-word) when it is longer than `limit`."""
    text = " ".join(text.split())
    if limit <= 0 or len(text) <= limit:
        return text
    return textwrap.shorten(text, width=limit, placeholder=" …")


def decision_line(item: Item, limit: int = _WIDTH) -> str:
    """One decision: active ones plain, reversed ones dimmed and struck through."""
    if item.status == "reversed":
        return f"[dim][s]{escape(_short(item.text, limit))}[/s] reversed by #{item.superseded_by}[/dim]"
    return f"[b]#{item.id}[/b] {escape(_short(item.text, limit))}"


def action_line(item: Item, limit: int = _WIDTH) -> str:
    """One open action item with its owner and due date."""
    owner = f"[b]@{escape(item.owner)}[/b] " if item.owner else "[dim]no owner[/dim] "
    due = f" [yellow]due {escape(item.due)}[/yellow]" if item.due else ""
    return f"#{item.id} {owner}{escape(_short(item.text, limit))}{due}"


def question_line(item: Item, limit: int = _WIDTH) -> str:
    """One open question and who asked it."""
    return f"#{item.id} {escape(_short(item.text, limit))} [dim]— {escape(item.author)}[/dim]"


class MemorySection(Static, can_focus=True):
    """One section of the panel: items shortened at word boundaries; with the focus, every item in full."""

    def __init__(self, *, id: str) -> None:
        super().__init__("", id=id, classes="memory-section")
        self.title = ""
        self.items: list[Item] = []
        self.line: Callable[[Item, int], str] = decision_line
        self.empty = ""

    def show(self, title: str, items: list[Item], line: Callable[[Item, int], str], empty: str) -> None:
        """Show these items under a title (shortened unless the section has the focus)."""
        self.title, self.items, self.line, self.empty = title, items, line, empty
        self._render_items()

    def _render_items(self) -> None:
        limit = 0 if self.has_focus else _WIDTH
        body = "\n".join(self.line(item, limit) for item in self.items) if self.items else f"[dim]{self.empty}[/dim]"
        hint = " [dim]· full text[/dim]" if self.has_focus and self.items else ""
        self.update(f"[b $accent]{self.title}[/] [dim]({len(self.items)})[/dim]{hint}\n{body}")

    def watch_has_focus(self, _has_focus: bool) -> None:
        """With the focus, every item in full; without it, shortened again."""
        super().watch_has_focus(_has_focus)
        if self.is_mounted:
            self._render_items()


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
        yield MemorySection(id="memory-decisions")
        yield MemorySection(id="memory-actions")
        yield MemorySection(id="memory-questions")

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
            self.query_one(selector, MemorySection).show(title, list(items), line, empty)
