"""The one message pipeline: keep, notice, act, answer, learn, tell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.engine.commands import CommandContext
from hololoom_core.events import AnswerReady, EngineError, Event, MessageStored, ReplySent, StatsChanged
from hololoom_core.models import ChatMessage, Insight, StoredMessage


def message(body: str, sender: str = "alice", **kwargs: Any) -> ChatMessage:
    return ChatMessage(room_id="#ops", sender=sender, body=body, sender_name=sender.title(), **kwargs)


async def test_plain_chat_is_stored_and_not_answered(engine: Engine) -> None:
    result = await engine.handle(message("deploying checkout-api v2.3 now"))
    assert result.message is not None and result.replies == []
    assert engine.messages.recent("#ops")[-1].body == "deploying checkout-api v2.3 now"
    assert engine.store.scalar("SELECT count(*) FROM pending_actions") == 0


async def test_question_to_the_bot_gets_a_structured_answer_recorded_as_interaction(engine: Engine) -> None:
    events: list[Event] = []
    engine.bus.subscribe(events.append)
    result = await engine.handle(message("@hololoom the production API is returning 500 errors"))
    assert len(result.replies) == 1
    reply = result.replies[0]
    assert reply.answer is not None
    assert all(reply.answer.sections[name].strip() for name in ("PLAN", "ANSWER", "VERIFY", "TL;DR"))
    assert result.message is not None
    assert reply.thread_id == result.message.event_id
    row = engine.store.query_one("SELECT * FROM interactions WHERE id = ?", (reply.answer.interaction_id,))
    assert row is not None
    assert row["message_id"] == result.message.id
    assert row["reply_message_id"] == reply.message_id
    assert row["query"] == "the production API is returning 500 errors"
    assert json.loads(row["sections"])["TL;DR"]
    assert 0.0 <= row["quality"] <= 1.0 and row["latency_ms"] > 0
    assert reply.message_id is not None
    bot_message = engine.messages.get(reply.message_id)
    assert bot_message is not None and bot_message.is_bot and bot_message.kind == "answer"
    assert bot_message.meta["interaction_id"] == reply.answer.interaction_id
    kinds = [type(event).__name__ for event in events]
    assert kinds.index("MessageStored") < kinds.index("AnswerReady") < kinds.index("ReplySent")
    assert isinstance(events[-1], StatsChanged)
    assert engine.stats.answers == 1 and engine.stats.messages == 2
    assert engine.store.scalar("SELECT count(*) FROM pending_actions") == 0


async def test_mentions_in_many_forms_address_the_bot(engine: Engine) -> None:
    for body in ("hololoom: why is disk full?", "hey @hololoom, cert expired?", "@HoloLoom dns failing"):
        assert engine.is_addressed(message(body)), body
    for body in ("hololoomish words", "email me at ops@hololoom.io", "the hololoom-api is down"):
        assert not engine.is_addressed(message(body)), body
    assert engine.is_addressed(message("why?", is_direct=True))


async def test_commands_run_with_suggestions_for_typos(engine: Engine) -> None:
    result = await engine.handle(message("!ping"))
    assert result.replies[0].body.startswith("pong")
    result = await engine.handle(message("!hepl"))
    assert "Unknown command `!hepl`" in result.replies[0].body and "`!help`" in result.replies[0].body


async def test_acl_refuses_politely_and_help_hides_refused_commands(tmp_path: Path) -> None:
    from hololoom_core.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text('acl:\n  commands:\n    "runbook*":\n      deny_users: ["mallory"]\n', encoding="utf-8")
    config = load_config(path, data_dir=tmp_path / "d", environ={})
    engine = Engine(config)
    refused = await engine.handle(message("!runbook http-5xx", sender="mallory"))
    assert refused.replies[0].body == "Sorry, you are not allowed to run `runbook http-5xx`."
    allowed = await engine.handle(message("!runbook http-5xx", sender="alice"))
    assert "HTTP 5xx" in allowed.replies[0].body
    help_for_mallory = (await engine.handle(message("!help", sender="mallory"))).replies[0].body
    assert "!runbook" not in help_for_mallory and "!ping" in help_for_mallory
    await engine.close()


async def test_secrets_are_redacted_before_storage(engine: Engine) -> None:
    result = await engine.handle(message("db password=hunter2hunter and key AKIAIOSFODNN7EXAMPLE"))
    assert result.message is not None
    stored = engine.messages.get(result.message.id)
    assert stored is not None
    assert "hunter2hunter" not in stored.body and "AKIAIOSFODNN7EXAMPLE" not in stored.body
    assert stored.meta["redacted_secrets"] == ["aws-access-key", "password"]
    assert engine.messages.search("hunter2hunter") == []


async def test_duplicate_event_is_not_answered_twice(engine: Engine) -> None:
    first = message("@hololoom disk full on web-03", event_id="$same")
    assert (await engine.handle(first)).replies
    again = await engine.handle(message("@hololoom disk full on web-03", event_id="$same"))
    assert again.duplicate and again.replies == []
    assert engine.stats.answers == 1


async def test_failures_in_plugins_never_break_the_pipeline(engine: Engine) -> None:
    class Broken:
        def detect(self, stored: StoredMessage) -> list[Insight]:
            raise RuntimeError("detector bug")

    class Finds:
        def detect(self, stored: StoredMessage) -> list[Insight]:
            return [Insight("decision", stored.id, stored.room_id, stored.body, 0.9)]

    engine.detectors += [Broken(), Finds()]
    errors: list[Event] = []
    engine.bus.subscribe(lambda event: errors.append(event))

    def crashing_subscriber(event: Event) -> None:
        raise ZeroDivisionError("division by zero")

    engine.bus.subscribe(crashing_subscriber)  # a crashing subscriber is logged, not raised
    result = await engine.handle(message("the weather in Lisbon is lovely"))  # nothing the shipped detectors flag
    assert [insight.kind for insight in result.insights] == ["decision"]
    assert engine.store.scalar("SELECT count(*) FROM insights") == 1
    assert any(isinstance(e, EngineError) and "detector bug" in e.error for e in errors)


async def test_a_crashing_command_is_reported_and_the_message_kept(engine: Engine) -> None:
    @engine.commands.command("explode", help="test")
    async def explode(context: CommandContext) -> str:
        raise ValueError("boom")

    result = await engine.handle(message("!explode"))
    assert result.message is not None
    assert result.replies[0].kind == "error" and "boom" in result.replies[0].body
    assert engine.messages.get(result.message.id) is not None


async def test_pending_action_survives_a_crash_and_resumes(config: Config) -> None:
    engine = Engine(config)
    kept = engine.keep(message("@hololoom queue backlog growing on orders-worker"))  # stored, crash before act
    assert kept is not None
    await engine.close()
    restarted = Engine(config)
    pending = restarted.pending_actions()
    assert [(m.id, action) for m, action in pending] == [(kept.stored.id, "question")]
    replies = await restarted.resume(*pending[0])
    assert replies and replies[0].answer is not None
    assert restarted.pending_actions() == []
    await restarted.close()


async def test_stats_are_seeded_from_the_store_on_restart(config: Config) -> None:
    engine = Engine(config)
    await engine.handle(message("@hololoom tls certificate expired on api.example.com"))
    quality = engine.stats.mean_quality
    await engine.close()
    again = Engine(config)
    assert again.stats.messages == 2 and again.stats.answers == 1
    assert again.stats.mean_quality == quality and again.stats.p50_latency_ms is not None
    await again.close()


async def test_ask_records_an_interaction_without_a_chat_message(engine: Engine) -> None:
    seen: list[Event] = []
    engine.bus.subscribe(seen.append)
    answer = await engine.ask("replication lag on the postgres replica")
    assert answer.interaction_id is not None
    assert engine.messages.count() == 0
    assert any(isinstance(e, AnswerReady) for e in seen)
    assert not any(isinstance(e, (MessageStored, ReplySent)) for e in seen)


async def test_feedback_is_recorded_once_per_user(engine: Engine) -> None:
    answer = await engine.ask("dns resolution failing")
    assert answer.interaction_id is not None
    assert engine.record_feedback(answer.interaction_id, "alice", 1, "reaction", "$r1")
    assert not engine.record_feedback(answer.interaction_id, "alice", 1, "reaction", "$r1")
    assert engine.record_feedback(answer.interaction_id, "bob", -1, "reaction", "$r2")
    row = engine.interactions.get(answer.interaction_id)
    assert row is not None and row.feedback == 0 and row.feedback_count == 2
