"""Delivery of the bot's stored replies to Matrix, exactly once.

The engine stores every reply with `messages.delivery = 'pending'` before anything is sent. The outbox
sends each part with a transaction id derived from the reply's own event id, so a re-send after a crash
(or a lost response) is recognised by the homeserver and does not post twice; only then is the row
marked `sent` and given the Matrix event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from nio import RoomSendResponse

from hololoom_core.models import StoredMessage
from hololoom_core.transport.matrix.render import Placement, message_content, place_reply, split_markdown
from hololoom_core.transport.matrix.state import MatrixState, atomic_without_fsync

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

log = logging.getLogger(__name__)

PERMANENT_ERRORS = frozenset({"M_FORBIDDEN", "M_NOT_FOUND", "M_BAD_JSON", "M_NOT_JSON", "M_TOO_LARGE",
                              "M_UNKNOWN", "M_INVALID_PARAM"})

Sender = Callable[[str, dict[str, Any], str], Awaitable[Any]]


def txn_base(event_id: str, meta: dict[str, Any]) -> str:
    """The stable transaction id prefix of a stored bot message (its first local event id, without `$`)."""
    return str(meta.get("txn_id") or event_id).lstrip("$")


class DeliveryFailed(Exception):
    """The homeserver refused a message for good (forbidden, not in the room, too large)."""


class Outbox:
    """Sends pending bot messages; one delivery per message at a time, parts in order."""

    def __init__(self, engine: Engine, state: MatrixState, send: Sender, retry_wait: Callable[[int], float]) -> None:
        self.engine = engine
        self.state = state
        self.send = send
        self.retry_wait = retry_wait
        self.in_flight: set[int] = set()
        self.sent_count = 0
        self.ready = asyncio.Event()

    def pending_ids(self) -> list[int]:
        """Stored Matrix messages still waiting to be sent, oldest first."""
        return self.engine.messages.undelivered("matrix")

    def placement_for(self, message: StoredMessage, meta: dict[str, Any]) -> Placement:
        """Thread and reply target of one stored reply, from the question's own thread and the thread policy."""
        config = self.engine.config.matrix
        question_thread = None
        if message.reply_to:
            question = self.engine.messages.by_event_id(message.reply_to)
            question_thread = question.thread_id if question is not None else None
        return place_reply(
            kind=str(meta.get("reply_kind") or message.kind),
            body=message.body,
            thread_id=message.thread_id,
            in_reply_to=message.reply_to,
            question_thread_id=question_thread,
            policy=config.answer_threads,
            long_answer_chars=config.long_answer_chars,
        )

    async def deliver(self, message_id: int) -> bool:
        """Send one stored message if it is still pending; True when this call completed its delivery."""
        if message_id in self.in_flight:
            return False
        self.in_flight.add(message_id)
        try:
            return await self._deliver(message_id)
        finally:
            self.in_flight.discard(message_id)

    async def _deliver(self, message_id: int) -> bool:
        message = self.engine.messages.get(message_id)
        if message is None or message.delivery != "pending" or message.redacted:
            return False
        meta = dict(message.meta)
        base = txn_base(message.event_id, meta)
        placement = self.placement_for(message, meta)
        if placement.thread_id != message.thread_id:
            with atomic_without_fsync(self.engine.store):
                self.engine.messages.set_thread(message_id, placement.thread_id)
        parts = split_markdown(message.body, self.engine.config.matrix.max_message_chars)
        sent = self.state.sent_parts(message_id)
        msgtype = str(meta.get("msgtype") or "m.notice")
        for index, part in enumerate(parts):
            if index in sent:
                continue
            content = message_content(part, placement=placement, msgtype=msgtype, first_part=index == 0)
            txn_id = f"{base}-{index}"
            try:
                event_id = await self._send_with_retry(message.room_id, content, txn_id)
            except DeliveryFailed as exc:
                self.engine.messages.set_delivery(message_id, "failed")
                self.engine.report_error("matrix send", f"message {message_id} to {message.room_id}: {exc}")
                return False
            sent[index] = event_id
            if index < len(parts) - 1:
                with atomic_without_fsync(self.engine.store):
                    self.state.record_sent(event_id, message_id, index, txn_id)
        meta["txn_id"] = base
        with atomic_without_fsync(self.engine.store):
            last = len(parts) - 1
            if last in sent:
                self.state.record_sent(sent[last], message_id, last, f"{base}-{last}")
            self.engine.messages.set_delivery(message_id, "sent", event_id=sent.get(0), meta=meta)
        self.sent_count += 1
        return True

    async def _send_with_retry(self, room_id: str, content: dict[str, Any], txn_id: str) -> str:
        """Send until the homeserver accepts (same txn id every time); 429 waits as told, errors back off."""
        attempt = 0
        while True:
            try:
                response = await self.send(room_id, content, txn_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused, timeouts, encryption preparation
                attempt += 1
                wait = self.retry_wait(attempt)
                log.warning("send to %s failed (%s: %s); retrying in %.1f s", room_id, type(exc).__name__, exc, wait)
                await asyncio.sleep(wait)
                continue
            if isinstance(response, RoomSendResponse):
                return response.event_id
            status = getattr(response, "status_code", None)
            retry_after = getattr(response, "retry_after_ms", None)
            if status == "M_LIMIT_EXCEEDED" or retry_after:
                await asyncio.sleep((retry_after or 1000) / 1000)
                continue
            if status in PERMANENT_ERRORS:
                raise DeliveryFailed(f"{status}: {getattr(response, 'message', response)}")
            attempt += 1
            wait = self.retry_wait(attempt)
            log.warning("send to %s refused (%s); retrying in %.1f s", room_id, response, wait)
            await asyncio.sleep(wait)
