"""One sync batch: turn timeline events into stored messages and applied changes, in one transaction.

`prepare` does everything that waits on the network (back-filling a `limited` timeline, downloading
files, OCR); `apply` then stores the whole batch and the new sync token in a single SQLite transaction,
so the token never advances past a message that is not stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nio import MatrixRoom, MegolmEvent, RoomMessagesResponse, SyncResponse

from hololoom_core.engine.pipeline import KeptMessage
from hololoom_core.models import Attachment, ChatMessage
from hololoom_core.text.clean import clean_text
from hololoom_core.transport.matrix.addressing import AddressingPolicy, relation_of, strip_reply_fallback
from hololoom_core.transport.matrix.e2e import EncryptionManager
from hololoom_core.transport.matrix.events import RoomEventHandler
from hololoom_core.transport.matrix.media import fetch_attachment
from hololoom_core.transport.matrix.state import MatrixState, atomic_without_fsync

if TYPE_CHECKING:
    from nio import AsyncClient

    from hololoom_core.engine.pipeline import Engine

log = logging.getLogger(__name__)

MESSAGE_KINDS = frozenset({"text", "media", "other-media"})
TEXT_MSGTYPES = frozenset({"m.text", "m.notice", "m.emote"})
MEDIA_MSGTYPES = frozenset({"m.image", "m.file"})
OTHER_MEDIA_MSGTYPES = frozenset({"m.audio", "m.video", "m.location", "m.sticker"})


@dataclass(slots=True)
class PreparedEvent:
    """One timeline event, classified, with what the network step fetched for it."""

    kind: str
    room_id: str
    event: Any
    source: dict[str, Any]
    attachment: Attachment | None = None
    notice: str | None = None

    @property
    def event_id(self) -> str:
        """The Matrix event id."""
        return str(self.source.get("event_id") or getattr(self.event, "event_id", ""))

    @property
    def sender(self) -> str:
        """Who sent it."""
        return str(self.source.get("sender") or getattr(self.event, "sender", ""))

    @property
    def ts(self) -> float:
        """When the homeserver received it, in seconds."""
        stamp = self.source.get("origin_server_ts") or getattr(self.event, "server_timestamp", 0)
        return float(stamp or 0) / 1000.0

    @property
    def content(self) -> dict[str, Any]:
        """The event content (decrypted when it was encrypted)."""
        content = self.source.get("content")
        return content if isinstance(content, dict) else {}


@dataclass(slots=True)
class AppliedBatch:
    """What storing a batch produced: the new messages, notices to post, the newest event per room."""

    kept: list[KeptMessage] = field(default_factory=list)
    notices: list[tuple[KeptMessage, str]] = field(default_factory=list)
    last_event: dict[str, str] = field(default_factory=dict)
    stored: int = 0
    changes: int = 0


def classify(event: Any) -> tuple[str, dict[str, Any]]:
    """The kind of a timeline event (`text`, `media`, `edit`, `reaction`, ...) and its source dict."""
    if isinstance(event, MegolmEvent):
        return "undecryptable", dict(event.source)
    source = getattr(event, "source", None)
    if not isinstance(source, dict):
        return "ignore", {}
    event_type = source.get("type")
    content = source.get("content") if isinstance(source.get("content"), dict) else {}
    if event_type == "m.room.member":
        return "membership", source
    if event_type == "m.reaction":
        return "reaction", source
    if event_type == "m.room.redaction":
        return "redaction", source
    if event_type == "m.room.encryption":
        return "encryption", source
    if event_type == "m.room.name":
        return "name", source
    if event_type != "m.room.message" or not content:
        return "ignore", source
    if relation_of(content).rel_type == "m.replace":
        return "edit", source
    msgtype = content.get("msgtype")
    if msgtype in TEXT_MSGTYPES:
        return "text", source
    if msgtype in MEDIA_MSGTYPES:
        return "media", source
    return "other-media", source


class BatchProcessor:
    """Prepares and applies sync batches for the transport."""

    def __init__(
        self,
        engine: Engine,
        state: MatrixState,
        client: AsyncClient,
        policy: AddressingPolicy,
        handler: RoomEventHandler,
        encryption: EncryptionManager,
    ) -> None:
        self.engine = engine
        self.state = state
        self.client = client
        self.policy = policy
        self.handler = handler
        self.encryption = encryption
        self.config = engine.config.matrix
        self.backfilled = 0

    # -- network step ------------------------------------------------------------------------------

    async def prepare(self, response: SyncResponse, *, first_run: bool) -> list[PreparedEvent]:
        """Classify every joined room's timeline (back-filled when `limited`) and fetch media."""
        prepared: list[PreparedEvent] = []
        for room_id, info in response.rooms.join.items():
            if not self.policy.room_allowed(room_id):
                continue
            events = list(info.timeline.events)
            log.debug("sync: %s has %d timeline events (limited %s)%s", room_id, len(events),
                      info.timeline.limited, " [first run: history skipped]" if first_run else "")
            if first_run:
                continue
            if info.timeline.limited and info.timeline.prev_batch:
                events = await self.backfill(room_id, info.timeline.prev_batch) + events
            floor = self.state.history_floor(room_id)
            seen: set[str] = set()
            for event in events:
                kind, source = classify(event)
                item = PreparedEvent(kind, room_id, event, source)
                if kind == "ignore" or item.event_id in seen:
                    continue
                seen.add(item.event_id)
                if item.sender == self.policy.bot_user_id and kind != "membership":
                    continue
                if item.ts < floor and kind in ("text", "media", "other-media"):
                    continue
                if kind == "media" and not self.state.seen(item.event_id):
                    outcome = await fetch_attachment(
                        self.client, item.content, max_bytes=self.config.max_file_bytes,
                        max_chars=self.config.max_indexed_chars, ocr=self.config.ocr,
                    )
                    item.attachment, item.notice = outcome.attachment, outcome.notice
                prepared.append(item)
        return prepared

    async def backfill(self, room_id: str, prev_batch: str) -> list[Any]:
        """Page back through `/messages` from `prev_batch` to the last event already stored (or the limit)."""
        collected: list[Any] = []
        token: str | None = prev_batch
        floor = self.state.history_floor(room_id)
        limit = self.config.backfill_limit
        while token and len(collected) < limit:
            response = await self.client.room_messages(
                room_id, start=token, limit=min(100, limit - len(collected)),
                message_filter={"not_senders": [self.policy.bot_user_id]},
            )
            if not isinstance(response, RoomMessagesResponse):
                self.engine.report_error("matrix backfill", f"{room_id}: {response}")
                break
            reached_known = False
            for event in response.chunk:
                event_id = getattr(event, "event_id", None)
                ts = float(getattr(event, "server_timestamp", 0) or 0) / 1000.0
                if not event_id or self.state.seen(event_id) or ts < floor:
                    reached_known = True
                    break
                collected.append(event)
            if reached_known or not response.chunk or not response.end or response.end == token:
                break
            token = response.end
        self.backfilled += len(collected)
        if collected:
            log.info("back-filled %d events in %s", len(collected), room_id)
        return list(reversed(collected))

    # -- storing step ------------------------------------------------------------------------------

    def apply(self, prepared: list[PreparedEvent], response: SyncResponse, token: str) -> AppliedBatch:
        """Store the batch and the new sync token in one transaction; returns what to act on."""
        result = AppliedBatch()
        try:
            with atomic_without_fsync(self.engine.store):
                self.apply_rooms(response)
                run: list[PreparedEvent] = []  # consecutive messages, kept in one `keep_batch`
                for item in prepared:
                    if item.kind in MESSAGE_KINDS:
                        run.append(item)
                        result.last_event[item.room_id] = item.event_id
                        continue
                    self.store_messages(run, result)  # before an edit or redaction that may refer to them
                    run = []
                    self.apply_event(item, result)
                self.store_messages(run, result)
                self.state.save_sync_token(token)
        except BaseException:
            self.state.forget_cache()  # the token (and anything else cached) was rolled back
            raise
        return result

    def apply_rooms(self, response: SyncResponse) -> None:
        """Remember joined and left rooms (name, encryption, direct) and their current members."""
        for room_id in response.rooms.join:
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            previous = self.state.room(room_id)
            if previous is None or previous.membership != "join":
                self.state.snapshot_members(
                    room_id, {user_id: user.display_name for user_id, user in room.users.items()},
                    self.engine.clock.now(),
                )
            name = room_label(room)
            is_direct = room_is_direct(room, previous.is_direct if previous else False)
            if previous is None or (previous.membership, previous.name, previous.encrypted, previous.is_direct) != (
                "join", name, room.encrypted, is_direct
            ):
                self.state.upsert_room(room_id, membership="join", name=name, encrypted=room.encrypted,
                                       is_direct=is_direct)
        for room_id in response.rooms.leave:
            self.state.upsert_room(room_id, membership="leave")

    def apply_event(self, item: PreparedEvent, result: AppliedBatch) -> None:
        """Apply one prepared event inside the batch transaction."""
        kind = item.kind
        if kind in MESSAGE_KINDS:
            self.store_messages([item], result)
        elif kind == "edit":
            relation = relation_of(item.content)
            if relation.target and self.handler.on_edit(target=relation.target, sender=item.sender,
                                                        content=item.content, ts=item.ts):
                result.changes += 1
        elif kind == "reaction":
            relates = item.content.get("m.relates_to") or {}
            target, key = relates.get("event_id"), relates.get("key")
            if isinstance(target, str) and isinstance(key, str):
                self.handler.on_reaction(event_id=item.event_id, room_id=item.room_id, sender=item.sender,
                                         target=target, key=key, ts=item.ts)
                result.changes += 1
        elif kind == "redaction":
            redacts = item.source.get("redacts") or item.content.get("redacts")
            if isinstance(redacts, str) and self.handler.on_redaction(redacts=redacts, sender=item.sender):
                result.changes += 1
        elif kind == "membership":
            content = item.content
            unsigned = item.source.get("unsigned") or {}
            previous = (unsigned.get("prev_content") or {}).get("membership")
            self.handler.on_membership(
                event_id=item.event_id, room_id=item.room_id, user_id=str(item.source.get("state_key") or ""),
                sender=item.sender, membership=str(content.get("membership") or "leave"),
                prev_membership=previous, display_name=content.get("displayname"), ts=item.ts,
            )
        elif kind == "undecryptable":
            self.encryption.on_undecryptable(item.event, item.room_id)
        elif kind == "encryption":
            self.state.upsert_room(item.room_id, membership="join", encrypted=True)
        elif kind == "name":
            name = item.content.get("name")
            if isinstance(name, str) and name:
                self.state.upsert_room(item.room_id, membership="join", name=name)
        if kind not in ("membership", "ignore") and item.sender != self.policy.bot_user_id:
            result.last_event[item.room_id] = item.event_id

    def store_messages(self, items: list[PreparedEvent], result: AppliedBatch) -> None:
        """Keep message events through the engine's `keep_batch` (notices from other bots are never acted on)."""
        if not items:
            return
        messages: list[ChatMessage] = []
        notices: dict[str, str] = {}
        for item in items:
            message = self.chat_message(item, self.client.rooms.get(item.room_id))
            message.actionable = item.content.get("msgtype") != "m.notice"
            messages.append(message)
            if item.notice:
                notices[item.event_id] = item.notice
        for kept in self.engine.keep_batch(messages):
            result.stored += 1
            result.kept.append(kept)
            notice = notices.get(kept.stored.event_id)
            if notice:
                result.notices.append((kept, notice))

    def chat_message(self, item: PreparedEvent, room: MatrixRoom | None) -> ChatMessage:
        """The `ChatMessage` for a message event: thread, reply, mentions, direct flag and attachments."""
        content = item.content
        relation = relation_of(content)
        body = clean_text(strip_reply_fallback(str(content.get("body") or "")))  # JSON may carry lone surrogates
        attachments: list[Attachment] = []
        if item.kind == "media" and item.attachment is not None:
            attachments.append(item.attachment)
        elif item.kind == "other-media":
            info = raw_info if isinstance(raw_info := content.get("info"), dict) else {}
            attachments.append(
                Attachment(name=body or "attachment", mimetype=str(info.get("mimetype") or "application/octet-stream"),
                           size=int(info.get("size") or 0), url=content.get("url"),
                           meta={"kind": str(content.get("msgtype")), "skipped": "unsupported type"})
            )
        record = self.state.room(item.room_id)
        is_direct = room_is_direct(room, record.is_direct if record else False)
        return ChatMessage(
            room_id=item.room_id,
            sender=item.sender,
            body=body,
            transport="matrix",
            event_id=item.event_id,
            ts=item.ts,
            thread_id=relation.thread_id,
            reply_to=relation.reply_to,
            sender_name=room.user_name(item.sender) if room is not None else None,
            room_name=room_label(room) if room is not None else None,
            is_direct=is_direct,
            mentions_bot=item.kind == "text" and self.policy.mentions_bot(content, body),
            attachments=attachments,
        )


def room_label(room: MatrixRoom | None) -> str | None:
    """A room's name for people: its name, canonical alias or computed display name."""
    if room is None:
        return None
    return room.name or room.canonical_alias or room.display_name


def room_is_direct(room: MatrixRoom | None, flagged: bool) -> bool:
    """A room is direct when it was flagged so at invite time, or when only the bot and one person are in it."""
    if flagged:
        return True
    if room is None:
        return False
    return room.member_count == 2 and not room.name
