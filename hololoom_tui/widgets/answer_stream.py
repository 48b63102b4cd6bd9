"""An answer as a language model streams it: Markdown fed fragment by fragment, replaced when the answer lands."""

from __future__ import annotations

import asyncio

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream


class StreamingAnswer(Vertical):
    """The bot's answer while it is being written; the finished answer (a BotEntry) replaces it."""

    def __init__(self, bot_name: str, question_message_id: int | None) -> None:
        super().__init__(classes="entry bot streaming")
        self.bot_name = bot_name
        self.question_message_id = question_message_id
        self.received = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        """Header and the Markdown body being streamed."""
        yield Static(f"[b $accent]{escape(self.bot_name)}[/] [dim]writing…[/dim]", classes="entry-header")
        yield Markdown("", classes="entry-body")

    def on_mount(self) -> None:
        """Open the Markdown stream."""
        self._stream = Markdown.get_stream(self.query_one(Markdown))
        if self.received:
            self._write(self.received)

    def feed(self, text: str) -> None:
        """Append a fragment (fragments are written in the order they are fed)."""
        self.received += text
        if self._stream is not None:
            self._write(text)

    def _write(self, text: str) -> None:
        assert self._stream is not None
        task = asyncio.get_running_loop().create_task(self._stream.write(text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_unmount(self) -> None:
        """Stop the stream when the finished answer replaces this widget."""
        if self._stream is not None:
            await self._stream.stop()
