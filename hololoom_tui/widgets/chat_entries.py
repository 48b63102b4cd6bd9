"""Chat entries: a person's message, and the bot's answer rendered as Markdown with its figures."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static

from hololoom_core.models import StoredMessage
from hololoom_tui.format import clock_time, latency_text, quality_text
from hololoom_tui.widgets.answer_details import AnswerDetails


def _thread_marker(message: StoredMessage) -> str:
    return "[dim]↳ [/dim]" if message.thread_id else ""


class PersonEntry(Static):
    """A message from a person: name, time, text."""

    def __init__(self, message: StoredMessage) -> None:
        self.message = message
        name = escape(message.author)
        body = escape(message.body) if not message.redacted else "[dim italic](redacted)[/]"
        super().__init__(
            f"{_thread_marker(message)}[b]{name}[/b] [dim]{clock_time(message.ts)}[/dim]\n{body}",
            classes="entry person",
        )


class BotEntry(Vertical):
    """A bot reply: the Markdown body, and for answers the agent, quality and latency under it."""

    def __init__(self, message: StoredMessage) -> None:
        super().__init__(classes=f"entry bot {message.kind}")
        self.message = message

    def compose(self) -> ComposeResult:
        """Header, Markdown body, figures."""
        message = self.message
        yield Static(
            f"{_thread_marker(message)}[b $accent]{escape(message.author)}[/] [dim]{clock_time(message.ts)} · "
            f"{escape(message.kind)}[/dim]",
            classes="entry-header",
        )
        yield Markdown(message.body, classes="entry-body")
        meta = message.meta
        if message.kind == "answer" and "quality" in meta:
            predicted = meta.get("predicted_quality")
            quality = quality_text(meta.get("quality"))
            if predicted is not None:
                quality = f"predicted {quality_text(predicted)} → judged {quality}"
            yield Static(
                f"[dim]agent[/] {escape(str(meta.get('agent')))}  [dim]quality[/] "
                f"{quality}  [dim]latency[/] {latency_text(meta.get('latency_ms'))}  "
                f"[dim]provider[/] {escape(str(meta.get('provider')))}",
                classes="entry-meta",
            )
        if message.kind == "answer" and ("judge" in meta or "loop_steps" in meta):
            yield AnswerDetails(meta.get("judge"), meta.get("loop_steps"))


def entry_for(message: StoredMessage) -> PersonEntry | BotEntry:
    """The right widget for a stored message."""
    return BotEntry(message) if message.is_bot else PersonEntry(message)
