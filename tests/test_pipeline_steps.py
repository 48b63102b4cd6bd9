"""The two pipeline steps every transport uses: `keep_batch` (store, index, one transaction) and `respond`
(notice, act, deliver); the one delivery path, pending actions, events after commit, and `Engine.say`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hololoom_core.config import Config, load_config
from hololoom_core.engine import Engine
from hololoom_core.engine.delivery import DeliveryState
from hololoom_core.events import Event, MessageStored, ReplySent
from hololoom_core.models import ChatMessage, Reply
from hololoom_core.transport.local import LocalRoom


def message(body: str, sender: str = "alice", **kwargs: Any) -> ChatMessage:
    return ChatMessage(room_id="#ops", sender=sender, body=body, sender_name=sender.title(), **kwargs)


@dataclass
class RecordingTransport:
    """A transport that stores replies as pending and records what the engine hands it."""

    name: str = "chat"
    reply_state: DeliveryState = "pending"
    display_name: str | None = "Loom (chat)"
    delivered: list[Reply] = field(default_factory=list)

    async def deliver(self, reply: Reply) -> None:
        self.delivered.append(reply)


async def test_keep_batch_stores_indexes_and_skips_duplicates(engine: Engine) -> None:
    batch = [message(f"checkout latency spike number {i}", event_id=f"$b{i}") for i in range(50)]
    batch.append(message("a repeat inside the batch", event_id="$b7"))
    kept = engine.keep_batch(batch)
    assert [k.stored.event_id for k in kept] == [f"$b{i}" for i in range(50)]
    assert len({k.stored.id for k in kept}) == 50
    assert engine.keep_batch([message("again", event_id="$b3")]) == []  # stored before: nothing kept
    hits = engine.messages.search("checkout latency spike", limit=100)
    assert {hit.message.event_id for hit in hits} == {f"$b{i}" for i in range(50)}
    assert kept[0].stored.sender_name == "Alice"


async def test_fts_follows_single_inserts_edits_redactions_and_deletes(engine: Engine) -> None:
    first = engine.keep(message("postgres replica lag on db-03"))
    second = engine.keep(message("redis eviction storm on cache-07"))
    assert first is not None and second is not None
    assert [h.message.id for h in engine.messages.search("replica")] == [first.stored.id]
    engine.messages.update_body(first.stored.id, "kafka consumer lag on queue-02", 1.0)
    assert engine.messages.search("replica") == []
    assert [h.message.id for h in engine.messages.search("kafka")] == [first.stored.id]
    engine.messages.redact(second.stored.id)
    assert engine.messages.search("eviction") == []
    with engine.store.transaction() as conn:
        conn.execute("DELETE FROM messages WHERE id = ?", (first.stored.id,))
    assert engine.messages.search("kafka") == []
    integrity = engine.store.query_one("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    assert integrity is None  # raises when the external-content index disagrees with the table


async def test_events_are_published_after_the_outermost_commit_and_dropped_on_rollback(engine: Engine) -> None:
    seen: list[Event] = []
    engine.bus.subscribe(lambda event: seen.append(event) if isinstance(event, MessageStored) else None)
    with engine.store.transaction():
        engine.keep_batch([message("deploying payments-api v4")])
        assert seen == []  # not yet committed: nobody hears of it
    assert len(seen) == 1
    with pytest.raises(RuntimeError), engine.store.transaction():
        engine.keep_batch([message("this batch rolls back", event_id="$rolled")])
        raise RuntimeError("crash inside the batch")
    assert len(seen) == 1 and engine.messages.by_event_id("$rolled") is None


async def test_ingested_history_is_never_acted_on(engine: Engine) -> None:
    kept = engine.keep_batch([message("!ping", actionable=False), message("@hololoom why is it slow?",
                                                                          actionable=False)])
    assert [k.action for k in kept] == [None, None]
    assert engine.pending_actions() == []


async def test_local_pending_actions_resume_when_the_engine_starts(config: Config) -> None:
    engine = Engine(config)
    kept = engine.keep_batch([message("@hololoom disk full on web-03"), message("!ping", sender="bob")])
    assert [k.action for k in kept] == ["question", "command"]
    await engine.close()  # the process dies before the respond step
    restarted = Engine(config)
    replies: list[ReplySent] = []
    restarted.bus.subscribe(lambda event: replies.append(event) if isinstance(event, ReplySent) else None)
    await restarted.start()
    assert restarted.pending_actions() == []
    answered = {event.reply.in_reply_to for event in replies}
    assert answered == {k.stored.event_id for k in kept}
    await restarted.start()  # nothing is answered twice
    assert len(replies) == 2
    await restarted.close()


async def test_respond_acts_once_and_hands_replies_to_the_transport(engine: Engine) -> None:
    transport = RecordingTransport()
    engine.attach_transport(transport)
    kept = engine.keep_batch([message("!ping", transport="chat")])[0]
    first = await engine.respond(kept)
    again = await engine.respond(kept)  # e.g. a resume racing the live path
    assert len(first.replies) == 1 and again.replies == []
    assert [r.message_id for r in transport.delivered] == [first.replies[0].message_id]
    stored = engine.messages.get(first.replies[0].message_id or 0)
    assert stored is not None and stored.delivery == "pending" and stored.sender_name == "Loom (chat)"
    assert engine.pending_actions() == []


async def test_say_posts_as_the_bot_through_the_rooms_transport(engine: Engine) -> None:
    room = LocalRoom(engine)
    await room.post("alice", "hello")
    stored = engine.say("#ops", "nightly digest: token=hunter2hunter2 ready", kind="workflow")
    assert stored.is_bot and stored.transport == "local" and stored.delivery == "sent"
    assert "hunter2hunter2" not in stored.body  # said text is redacted like any reply
    transport = RecordingTransport()
    engine.attach_transport(transport)
    engine.keep(message("hi", transport="chat", event_id="$chat-room"))
    said = engine.say("#ops", "x", transport="chat")
    await engine.settle()
    assert said.delivery == "pending" and [r.message_id for r in transport.delivered] == [said.id]
    with pytest.raises(ValueError, match="empty"):
        engine.say("#ops", "   ")


def test_old_matrix_identity_keys_still_work_with_a_notice(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.WARNING)
    config = Config.model_validate({"matrix": {"command_prefix": "?", "admins": ["@root:x"], "display_name": "Old"},
                                    "hololoom": {"bot_name": "loom", "data_dir": str(tmp_path)}})
    assert (config.bot.command_prefix, config.bot.admins, config.bot.display_name, config.bot.name) == (
        "?", ["@root:x"], "Old", "loom")
    notices = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert "config: matrix.command_prefix is deprecated; move it to bot.command_prefix" in notices
    assert len(notices) == 4
    both = Config.model_validate({"bot": {"command_prefix": "!"}, "matrix": {"command_prefix": "?"}})
    assert both.bot.command_prefix == "!"
    assert load_config(None, data_dir=tmp_path, environ={}).bot.command_prefix == "!"
