"""The Matrix outbox without a homeserver: 429 waits, retries with the same transaction id, splitting, failures."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from nio import RoomSendError, RoomSendResponse

from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.events import EngineError
from hololoom_core.models import ChatMessage, Reply
from hololoom_core.transport.matrix.outbox import Outbox
from hololoom_core.transport.matrix.state import MatrixState


def engine_with_reply(tmp_path: Path, body: str, **matrix: Any) -> tuple[Engine, int]:
    """An engine on a temp dir with one stored question and one pending Matrix reply to it."""
    config = Config.model_validate({"hololoom": {"data_dir": str(tmp_path)}, "matrix": matrix})
    engine = Engine(config)
    kept = engine.keep(ChatMessage(room_id="!r:x", sender="@a:x", body="!ping", transport="matrix", event_id="$q"))
    assert kept is not None
    reply = Reply(room_id="!r:x", body=body, kind="command", in_reply_to="$q")
    engine.store_replies([reply], answering=kept.stored)  # Matrix is not attached: the reply waits as pending
    assert reply.message_id is not None
    return engine, reply.message_id


async def test_rate_limit_and_connection_errors_are_retried_with_the_same_txn(tmp_path: Path) -> None:
    engine, message_id = engine_with_reply(tmp_path, "pong")
    calls: list[tuple[str, float]] = []
    script: list[Any] = [
        RoomSendError("slow down", "M_LIMIT_EXCEEDED", retry_after_ms=200),
        ConnectionResetError("homeserver restarting"),
        RoomSendResponse("$sent", "!r:x"),
    ]

    async def send(room_id: str, content: dict[str, Any], txn_id: str) -> Any:
        calls.append((txn_id, time.monotonic()))
        outcome = script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    outbox = Outbox(engine, MatrixState(engine.store), send, retry_wait=lambda attempt: 0.01)
    assert engine.store.scalar("SELECT delivery FROM messages WHERE id = ?", (message_id,)) == "pending"
    assert await outbox.deliver(message_id)
    assert len({txn for txn, _ in calls}) == 1 and len(calls) == 3
    assert calls[1][1] - calls[0][1] >= 0.2  # the 429's retry_after_ms was honoured
    row = engine.store.query_one("SELECT delivery, event_id FROM messages WHERE id = ?", (message_id,))
    assert row is not None
    assert (row["delivery"], row["event_id"]) == ("sent", "$sent")
    assert not await outbox.deliver(message_id)  # already sent: nothing goes out again
    assert len(calls) == 3
    await engine.close()


async def test_long_reply_is_split_and_parts_are_not_resent(tmp_path: Path) -> None:
    body = "\n\n".join(f"paragraph {n}: " + "lorem ipsum " * 60 for n in range(12))
    engine, message_id = engine_with_reply(tmp_path, body, max_message_chars=2000)
    sent: list[tuple[str, dict[str, Any]]] = []
    fail_at = {2}

    async def send(room_id: str, content: dict[str, Any], txn_id: str) -> Any:
        index = len(sent)
        if index in fail_at:
            fail_at.clear()
            raise asyncio.CancelledError  # the process stops in the middle of a multi-part reply
        sent.append((txn_id, content))
        return RoomSendResponse(f"$part{index}", "!r:x")

    state = MatrixState(engine.store)
    outbox = Outbox(engine, state, send, retry_wait=lambda attempt: 0.01)
    try:
        await outbox.deliver(message_id)
    except asyncio.CancelledError:
        pass
    assert len(sent) == 2 and engine.store.scalar("SELECT delivery FROM messages WHERE id = ?",
                                                  (message_id,)) == "pending"
    assert await Outbox(engine, state, send, retry_wait=lambda attempt: 0.01).deliver(message_id)
    txns = [txn for txn, _ in sent]
    assert len(txns) == len(set(txns)) and all(len(c["body"]) <= 2000 for _, c in sent)
    assert "".join(c["body"] for _, c in sent).replace("\n", "") == body.replace("\n", "")
    assert sent[0][1]["m.relates_to"]["m.in_reply_to"]["event_id"] == "$q"
    assert sorted(state.sent_parts(message_id)) == list(range(len(sent)))
    await engine.close()


async def test_permanent_refusal_marks_failed_and_tells_the_operator(tmp_path: Path) -> None:
    engine, message_id = engine_with_reply(tmp_path, "pong")
    errors: list[EngineError] = []
    engine.bus.subscribe(lambda e: errors.append(e) if isinstance(e, EngineError) else None)

    async def send(room_id: str, content: dict[str, Any], txn_id: str) -> Any:
        return RoomSendError("You are not in this room", "M_FORBIDDEN")

    assert not await Outbox(engine, MatrixState(engine.store), send, retry_wait=lambda a: 0.01).deliver(message_id)
    assert engine.store.scalar("SELECT delivery FROM messages WHERE id = ?", (message_id,)) == "failed"
    assert errors and "M_FORBIDDEN" in errors[0].error and "\n" not in errors[0].error
    await engine.close()
