"""The Chat composer: a multi-line text area where Enter sends, shift+Enter / ctrl+j adds a line, up recalls.

Pasted text (bracketed paste) keeps its newlines, so a `!review` with a fenced code block arrives whole.
Keys with a modifier (alt+1 …) are left to the app's bindings instead of being typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea

NEWLINE_KEYS = frozenset({"shift+enter", "ctrl+j", "alt+enter", "ctrl+enter"})
MAX_HISTORY = 100


class Composer(TextArea):
    """The message input of the Chat tab, with a history of what was sent (newest last)."""

    @dataclass
    class Submitted(Message):
        """The operator pressed Enter: `text` is what to send (never blank)."""

        composer: Composer
        text: str

        @property
        def control(self) -> Composer:
            """The composer that sent it (lets `@on(Composer.Submitted, "#id")` match)."""
            return self.composer

    def __init__(self, *, placeholder: str = "", id: str | None = None) -> None:
        super().__init__("", id=id, soft_wrap=True, tab_behavior="focus", show_line_numbers=False,
                         compact=True, placeholder=placeholder)
        self.sent_history: list[str] = []
        self._recall: int | None = None  # index into history while recalling, None when editing fresh text
        self._draft = ""

    @property
    def value(self) -> str:
        """The text being written."""
        return self.text

    def clear_text(self) -> None:
        """Empty the composer."""
        self.load_text("")

    def submit(self) -> None:
        """Send the text (blank text is ignored) and remember it in the sent history."""
        text = self.text.strip()
        if not text:
            return
        if not self.sent_history or self.sent_history[-1] != self.text:
            self.sent_history.append(self.text)
            del self.sent_history[:-MAX_HISTORY]
        self._recall = None
        self._draft = ""
        self.load_text("")
        self.post_message(self.Submitted(self, text))

    def recall_previous(self) -> bool:
        """Show the previous history entry; False when there is none."""
        if not self.sent_history:
            return False
        if self._recall is None:
            self._draft = self.text
            self._recall = len(self.sent_history) - 1
        elif self._recall > 0:
            self._recall -= 1
        else:
            return False
        self._show(self.sent_history[self._recall], at_end=False)
        return True

    def recall_next(self) -> bool:
        """Show the next history entry, then the draft; False when not recalling."""
        if self._recall is None:
            return False
        if self._recall < len(self.sent_history) - 1:
            self._recall += 1
            self._show(self.sent_history[self._recall], at_end=True)
        else:
            self._recall = None
            self._show(self._draft, at_end=True)
        return True

    def _show(self, text: str, *, at_end: bool) -> None:
        self.load_text(text)
        if at_end:
            self.move_cursor(self.document.end)
        else:
            self.move_cursor((0, len(self.document.get_line(0))))

    def render_line(self, y: int) -> Strip:
        """A line of the text area; blank while the area has no width yet (Textual cannot wrap the placeholder)."""
        if self.content_size.width <= 0:
            return Strip.blank(self.size.width)
        return super().render_line(y)

    async def _on_key(self, event: events.Key) -> None:
        """Enter sends; newline keys add a line; up/down at the first/last line walk the history."""
        key = event.key
        if key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
            return
        if key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        row, _column = self.cursor_location
        if key == "up" and row == 0 and self.recall_previous():
            event.stop()
            event.prevent_default()
            return
        if key == "down" and row == self.document.line_count - 1 and self.recall_next():
            event.stop()
            event.prevent_default()
            return
        if key.startswith(("alt+", "ctrl+", "super+", "meta+")):
            return  # a binding's key, not text (TextArea would type the character of alt+1)
        await super()._on_key(event)
