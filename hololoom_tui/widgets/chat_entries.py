"""Chat entries: a person's message, and the bot's answer rendered as Markdown with its figures and rating."""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Collapsible, Markdown, Static

from hololoom_core.models import StoredMessage
from hololoom_tui.format import clock_time, latency_text, quality_text
from hololoom_tui.widgets.answer_details import AnswerDetails
from hololoom_tui.widgets.long_answer import is_long, split_answer

RATING_MARKS = {1: "👍", -1: "👎"}


def _thread_marker(message: StoredMessage) -> str:
    return "[dim]↳ [/dim]" if message.thread_id else ""


class PersonEntry(Static):
    """A message from a person: name, time, text (every part escaped: Rich markup in chat is shown as typed)."""

    def __init__(self, message: StoredMessage) -> None:
        self.message = message
        name = escape(message.author)
        body = escape(message.body) if not message.redacted else "[dim italic](redacted)[/]"
        super().__init__(
            f"{_thread_marker(message)}[b]{name}[/b] [dim]{clock_time(message.ts)}[/dim]\n{body}",
            classes="entry person",
        )


class BotEntry(Vertical, can_focus=True):
    """A bot reply: the Markdown body, and for answers the agent, quality, latency and the operator's rating.

    An answer can be rated with the 👍 / 👎 buttons, with `+` / `-` while it has the focus, or from the
    app (F7 / F8, the palette) when it is the selected answer. Long answers start collapsed to their
    TL;DR, with each section in a collapsible and a "show all" button.
    """

    BINDINGS = [
        Binding("plus,equals_sign", "rate(1)", "👍", id="chat.rate_up"),
        Binding("minus", "rate(-1)", "👎", id="chat.rate_down"),
    ]

    rating: reactive[int] = reactive(0)

    @dataclass
    class Rated(Message):
        """The operator rated this answer: +1 or -1."""

        entry: BotEntry
        value: int

    def __init__(self, message: StoredMessage, rating: int = 0) -> None:
        super().__init__(classes=f"entry bot {message.kind}")
        self.message = message
        self.set_reactive(BotEntry.rating, rating)

    @property
    def interaction_id(self) -> int | None:
        """The interaction this answer recorded (None for command replies)."""
        value = self.message.meta.get("interaction_id")
        return int(value) if isinstance(value, int) else None

    @property
    def rateable(self) -> bool:
        """Whether this reply is an answer the engine can take feedback on."""
        return self.message.kind == "answer" and self.interaction_id is not None

    def compose(self) -> ComposeResult:
        """Header, Markdown body (collapsed when long), figures and rating buttons."""
        message = self.message
        yield Static(
            f"{_thread_marker(message)}[b $accent]{escape(message.author)}[/] [dim]{clock_time(message.ts)} · "
            f"{escape(message.kind)}[/dim]",
            classes="entry-header",
        )
        if message.kind == "answer" and is_long(message.body):
            parts = split_answer(message.body)
            if parts.tldr and parts.sections:
                yield Markdown(f"**TL;DR:** {parts.tldr}", classes="entry-body entry-tldr")
                for title, body in parts.sections:
                    with Collapsible(title=title, collapsed=True, classes="answer-section"):
                        yield Markdown(body, classes="entry-body")
                if parts.footer:
                    yield Markdown(parts.footer, classes="entry-body")
                yield Button(f"show all ({message.body.count(chr(10)) + 1} lines)", compact=True,
                             classes="show-all")
            else:
                yield Markdown(message.body, classes="entry-body")
        else:
            yield Markdown(message.body, classes="entry-body")
        meta = message.meta
        if message.kind == "answer" and "quality" in meta:
            predicted = meta.get("predicted_quality")
            quality = quality_text(meta.get("quality"))
            if predicted is not None:
                quality = f"predicted {quality_text(predicted)} → judged {quality}"
            with Horizontal(classes="entry-footer"):
                yield Static(
                    f"[dim]agent[/] {escape(str(meta.get('agent')))}  [dim]quality[/] "
                    f"{quality}  [dim]latency[/] {latency_text(meta.get('latency_ms'))}  "
                    f"[dim]provider[/] {escape(str(meta.get('provider')))}",
                    classes="entry-meta",
                )
                if self.rateable:
                    yield Static(self._rating_text(), classes="entry-rating")
                    yield Button("👍", compact=True, classes="rate-up", tooltip="Good answer (+ or F7)")
                    yield Button("👎", compact=True, classes="rate-down", tooltip="Bad answer (- or F8)")
        if message.kind == "answer" and ("judge" in meta or "loop_steps" in meta):
            yield AnswerDetails(meta.get("judge"), meta.get("loop_steps"))

    def _rating_text(self) -> str:
        mark = RATING_MARKS.get(self.rating)
        return f"[b]you: {mark}[/b]" if mark else "[dim]rate:[/dim]"

    def watch_rating(self) -> None:
        if self.is_mounted and self.rateable:
            self.query_one(".entry-rating", Static).update(self._rating_text())

    def action_rate(self, value: int) -> None:
        """Rate this answer (the app records it with the engine)."""
        if self.rateable:
            self.post_message(self.Rated(self, value))

    @on(Button.Pressed, ".rate-up")
    def _rate_up(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_rate(1)

    @on(Button.Pressed, ".rate-down")
    def _rate_down(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_rate(-1)

    @on(Button.Pressed, ".show-all")
    def _show_all(self, event: Button.Pressed) -> None:
        event.stop()
        self.expand_all()

    def expand_all(self) -> None:
        """Open every collapsed section of a long answer."""
        for section in self.query(".answer-section").results(Collapsible):
            section.collapsed = False
        for button in self.query(".show-all"):
            button.remove()


def entry_for(message: StoredMessage, rating: int = 0) -> PersonEntry | BotEntry:
    """The right widget for a stored message."""
    return BotEntry(message, rating) if message.is_bot else PersonEntry(message)
