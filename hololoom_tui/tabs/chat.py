"""The Chat tab: rooms, the live conversation, and a composer that types as a chosen simulated user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, ListItem, ListView, Static

from hololoom_core.models import StoredMessage
from hololoom_tui.bridge import AnswerDeltas, MessagesStored, StatusUpdated
from hololoom_tui.engine_view import EngineView
from hololoom_tui.widgets.answer_stream import StreamingAnswer
from hololoom_tui.widgets.chat_entries import BotEntry, entry_for
from hololoom_tui.widgets.composer import Composer
from hololoom_tui.widgets.memory_panel import MemoryPanel

MAX_ENTRIES = 200


class RoomItem(ListItem):
    """One room in the room list."""

    def __init__(self, room_id: str, label: str) -> None:
        super().__init__(Label(label), id=None)
        self.room_id = room_id


class ChatTab(Vertical):
    """Rooms on the left, the conversation in the middle, the composer at the bottom.

    Escape in the composer moves the focus to the conversation (where digits switch tabs and `+` / `-`
    rate the focused answer); `i` or Enter on the conversation goes back to the composer.
    """

    BINDINGS = [
        Binding("escape", "leave_composer", "Conversation", id="chat.leave_composer", show=False),
        Binding("i", "focus_composer", "Write", id="chat.focus_composer", show=False),
    ]

    speaker: reactive[str] = reactive("operator")
    speaker_name: reactive[str] = reactive("Operator")
    to_bot: reactive[bool] = reactive(False)
    room_id: reactive[str] = reactive("#ops")

    @dataclass
    class Send(Message):
        """The operator submitted a message."""

        text: str
        speaker: str
        to_bot: bool
        room_id: str

    @dataclass
    class RoomChosen(Message):
        """The operator picked a room."""

        room_id: str

    def __init__(self, view: EngineView, bot_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.bot_name = bot_name
        self._rooms: list[str] = []
        self._names: dict[str, str] = {}
        self._transports: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        """Room list, conversation, composer."""
        with Horizontal(id="chat-body"):
            with Vertical(id="room-pane"):
                yield Static("[b]Rooms[/b]", classes="pane-title")
                yield ListView(id="room-list")
            with Vertical(id="conversation-pane"):
                yield Static("", id="room-title", classes="pane-title")
                yield VerticalScroll(id="messages")
                with Horizontal(id="composer"):
                    yield Label("", id="speaker-label")
                    yield Composer(id="chat-input")
            yield MemoryPanel(self.view, id="memory-panel")

    def on_mount(self) -> None:
        """Show the initial labels and put the cursor in the composer."""
        self._refresh_composer()
        self.focus_composer()
        if not self.view.ready:
            self.query_one("#messages", VerticalScroll).mount(
                Static("[dim]Starting the engine…[/dim]", classes="empty-hint"))

    @property
    def composer(self) -> Composer:
        """The message input."""
        return self.query_one("#chat-input", Composer)

    @property
    def messages_view(self) -> VerticalScroll:
        """The scrolling conversation."""
        return self.query_one("#messages", VerticalScroll)

    def focus_composer(self) -> None:
        """Move the keyboard focus to the message input."""
        self.composer.focus()

    def action_focus_composer(self) -> None:
        """Go back to writing."""
        self.focus_composer()

    def action_leave_composer(self) -> None:
        """Move the focus from the composer to the newest answer (or the conversation)."""
        if self.screen.focused is not self.composer:
            return
        answers = list(self.messages_view.query(BotEntry))
        (answers[-1] if answers else self.messages_view).focus()

    def selected_answer(self) -> BotEntry | None:
        """The answer the operator selected (focused), else the newest rateable answer in the room."""
        focused = self.screen.focused
        if focused is not None:
            for node in focused.ancestors_with_self:
                if isinstance(node, BotEntry) and node.rateable:
                    return node
        rateable = [entry for entry in self.messages_view.query(BotEntry) if entry.rateable]
        return rateable[-1] if rateable else None

    # -- reactive rendering ----------------------------------------------------------------------

    def watch_speaker_name(self) -> None:
        if self.is_mounted:
            self._refresh_composer()

    def watch_to_bot(self) -> None:
        if self.is_mounted:
            self._refresh_composer()

    def watch_room_id(self) -> None:
        if self.is_mounted:
            self._refresh_composer()

    def _refresh_composer(self) -> None:
        target = f"→ @{self.bot_name}" if self.to_bot else "→ room"
        self.query_one("#speaker-label", Label).update(f"[b]{escape(self.speaker_name)}[/b] [dim]{target}[/dim]")
        hint = (
            f"Ask @{self.bot_name} (F4: talk to the room)"
            if self.to_bot
            else f"Message {self.room_id}: @{self.bot_name} to ask, ! for commands"
        )
        self.composer.placeholder = Content(hint + " · Enter sends, ctrl+j new line, ↑ history")
        if self._transports.get(self.room_id) == "matrix":
            name = self._names.get(self.room_id) or self.room_id
            self.query_one("#speaker-label", Label).update(f"[b]{escape(self.bot_name)}[/b] [dim]→ Matrix[/dim]")
            self.composer.placeholder = Content(f"Say something in {name} as the bot")
            self.query_one("#room-title", Static).update(
                f"[b]{escape(name)}[/b] [dim]Matrix room {escape(self.room_id)} · F6 next room[/dim]"
            )
            return
        self.query_one("#room-title", Static).update(
            f"[b]{escape(self.room_id)}[/b] [dim]simulated room · F2 speaker · F3 scenario · F6 next room[/dim]"
        )

    # -- rooms and messages ----------------------------------------------------------------------

    def show_room(self, room_id: str) -> None:
        """Show this room: the room list, its newest messages and its memory."""
        self.room_id = room_id
        self.set_rooms(self.view.rooms())
        self.show_history(self.view.recent(room_id, limit=MAX_ENTRIES))
        self.query_one(MemoryPanel).room_id = room_id

    @on(MessagesStored)
    def _messages_stored(self, message: MessagesStored) -> None:
        for event in message.events:
            self.add_message(event.message)
        self.set_rooms(self.view.rooms())

    @on(AnswerDeltas)
    def _answer_deltas(self, message: AnswerDeltas) -> None:
        for event in message.events:
            self.stream_delta(event.room_id, event.message_id, event.text)

    @on(StatusUpdated)
    def _status_updated(self, message: StatusUpdated) -> None:
        self.set_rooms(self.view.rooms())  # a transport that connects brings its rooms

    def set_rooms(self, rooms: list[dict[str, Any]]) -> None:
        """Show the known rooms (the current one is always listed)."""
        from hololoom_core.transport.local import DEFAULT_ROOM  # with the engine, after the first frame

        room_ids = [room["room_id"] for room in rooms]
        for always in (self.room_id, DEFAULT_ROOM):
            if always not in room_ids:
                room_ids.insert(0, always)
        self._transports = {room["room_id"]: room.get("transport", "local") for room in rooms}
        self._names = {room["room_id"]: str(room["name"]) for room in rooms if room.get("name")}
        if room_ids == self._rooms:
            return
        self._rooms = room_ids
        names = {room["room_id"]: room for room in rooms}
        room_list = self.query_one("#room-list", ListView)
        room_list.clear()
        for room_id in room_ids:
            info = names.get(room_id, {})
            transport = info.get("transport", "local")
            title = escape(str(info.get("name") or room_id)) if transport == "matrix" else escape(room_id)
            label = f"{title} [dim]{escape('sim' if transport == 'local' else str(transport))}[/dim]"
            room_list.append(RoomItem(room_id, label))

    def show_history(self, messages: list[StoredMessage]) -> None:
        """Replace the conversation with these messages."""
        view = self.query_one("#messages", VerticalScroll)
        view.remove_children()
        if not messages:
            view.mount(Static(self._empty_hint(), classes="empty-hint"))
            return
        shown = messages[-MAX_ENTRIES:]
        ratings = self.view.app_ratings([m.meta.get("interaction_id") for m in shown if m.is_bot])
        view.mount_all([entry_for(message, ratings.get(int(message.meta.get("interaction_id") or 0), 0))
                        for message in shown])
        view.anchor()  # stay at the bottom while the entries render (Markdown grows after mounting), until the reader scrolls

    def _empty_hint(self) -> str:
        return (
            f"[dim]No messages in {escape(self.room_id)} yet.\n\n"
            f"Ask the bot: [b]@{self.bot_name} checkout-api returns 500s, what do I check?[/b]\n"
            "Run a command: [b]!help[/b], [b]!runbook[/b]\n"
            "Replay a realistic conversation: [b]F3[/b]   Type as someone else: [b]F2[/b][/dim]"
        )

    def add_message(self, message: StoredMessage) -> None:
        """Append one message if it belongs to the shown room; keep the DOM bounded."""
        if message.room_id != self.room_id:
            return
        view = self.query_one("#messages", VerticalScroll)
        for hint in view.query(".empty-hint"):
            hint.remove()
        at_bottom = self.at_bottom()
        if message.is_bot:  # the finished answer replaces its stream
            for stream in view.query(StreamingAnswer):
                if stream.question_message_id == message.meta.get("question_message_id"):
                    stream.remove()
        view.mount(entry_for(message))
        excess = len(view.children) - MAX_ENTRIES
        if excess > 0:
            for child in list(view.children)[:excess]:
                child.remove()
        if at_bottom:
            self.follow()

    def at_bottom(self) -> bool:
        """Whether the reader is at (or near) the end of the conversation."""
        view = self.messages_view
        return self.following() or view.scroll_y >= view.max_scroll_y - 2

    def following(self) -> bool:
        """Whether the conversation is anchored to its end (the reader has not scrolled away since)."""
        view = self.messages_view
        return view.is_anchored and not getattr(view, "_anchor_released", False)

    def follow(self) -> None:
        """Keep the newest output in view while it renders (Markdown grows after mounting) until the reader scrolls."""
        view = self.messages_view
        view.anchor()
        view.call_after_refresh(view.scroll_end, animate=False, immediate=True)

    def on_resize(self) -> None:
        """After a resize, a reader who was following stays at the bottom."""
        if self.is_mounted and self.following():
            self.follow()

    def stream_delta(self, room_id: str, question_message_id: int | None, text: str) -> None:
        """Show a fragment of an answer being streamed; auto-scroll only when the reader is at the bottom."""
        if room_id != self.room_id:
            return
        view = self.query_one("#messages", VerticalScroll)
        at_bottom = self.at_bottom()
        stream = next((s for s in view.query(StreamingAnswer) if s.question_message_id == question_message_id), None)
        if stream is None:
            stream = StreamingAnswer(self.bot_name, question_message_id)
            view.mount(stream)
        stream.feed(text)
        if at_bottom:
            self.follow()

    @on(ListView.Selected, "#room-list")
    def _room_selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, RoomItem) and event.item.room_id != self.room_id:
            self.post_message(self.RoomChosen(event.item.room_id))

    @on(Composer.Submitted, "#chat-input")
    def _submitted(self, event: Composer.Submitted) -> None:
        event.stop()
        self.post_message(self.Send(event.text, self.speaker, self.to_bot, self.room_id))
