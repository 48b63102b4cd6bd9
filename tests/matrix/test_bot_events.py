"""Reactions, edits, redactions, membership and media, against the real Synapse."""

from __future__ import annotations

import io
from typing import Any

import pytest
from nio import UploadResponse
from PIL import Image, ImageDraw, ImageFont

from hololoom_core.engine import Engine
from hololoom_core.events import MessageChanged
from hololoom_core.models import StoredMessage
from hololoom_core.store.interactions import InteractionRow
from hololoom_core.transport.matrix.media import ocr_status
from tests.matrix.botkit import Scene, scene_fixture  # noqa: F401  (the `scene` fixture)

pytestmark = pytest.mark.asyncio


async def ask(scene: Scene, text: str) -> tuple[str, dict[str, Any]]:
    """Ask the bot a question; return the question's id and the bot's answer event."""
    question = await scene.human.say(scene.room_id, text, mention=scene.bot_user.user_id)
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(question, scene.bot_user.user_id), 30)
    return question, replies[0]


async def wait_until(scene: Scene, predicate: Any, within: float = 10.0) -> None:
    """Keep the human syncing (the bot works meanwhile) until `predicate()` holds."""
    await scene.human.wait_for(lambda _: predicate(), within)


def kept(engine: Engine, event_id: str) -> StoredMessage:
    """The stored message for a Matrix event id; fails the test when the bot has not kept it."""
    stored = engine.messages.by_event_id(event_id)
    assert stored is not None, f"{event_id} is not in the store"
    return stored


def interaction_row(engine: Engine, interaction_id: int) -> InteractionRow:
    """The recorded interaction; fails the test when there is none."""
    row = engine.interactions.get(interaction_id)
    assert row is not None, f"no interaction {interaction_id}"
    return row


async def test_reaction_becomes_feedback_and_its_redaction_withdraws_it(scene: Scene) -> None:
    """👍 on the bot's answer is recorded once as +1 feedback; redacting the reaction withdraws it."""
    _, answer = await ask(scene, "hololoom: latency on checkout is spiking, what do I check first?")
    engine = scene.bot.engine
    interaction = engine.interactions.by_reply_event(answer["event_id"])
    assert interaction is not None and interaction.feedback == 0
    reaction = await scene.human.send(
        scene.room_id, {"m.relates_to": {"rel_type": "m.annotation", "event_id": answer["event_id"], "key": "👍"}},
        event_type="m.reaction",
    )
    await wait_until(scene, lambda: interaction_row(engine, interaction.id).feedback == 1)
    rows = engine.store.query("SELECT user_id, value, source, ref FROM feedback WHERE interaction_id = ?",
                              (interaction.id,))
    assert [tuple(r) for r in rows] == [(scene.human.user_id, 1, "reaction", reaction)]
    await scene.human.client.room_redact(scene.room_id, reaction)
    await wait_until(scene, lambda: interaction_row(engine, interaction.id).feedback_count == 0)
    assert interaction_row(engine, interaction.id).feedback == 0


async def test_thumbs_down_on_unrelated_message_is_ignored(scene: Scene) -> None:
    """A reaction on a person's message is remembered but gives no feedback."""
    own = await scene.human.say(scene.room_id, "restarting the worker pool now")
    reaction = await scene.human.send(
        scene.room_id, {"m.relates_to": {"rel_type": "m.annotation", "event_id": own, "key": "👎"}},
        event_type="m.reaction",
    )
    engine = scene.bot.engine
    await wait_until(scene, lambda: scene.bot.state.reaction(reaction) is not None)
    assert engine.store.scalar("SELECT count(*) FROM feedback") == 0


async def test_edit_updates_store_and_index(scene: Scene) -> None:
    """An `m.replace` edit changes the stored body and what full-text search finds."""
    engine = scene.bot.engine
    changes: list[MessageChanged] = []
    engine.bus.subscribe(lambda e: changes.append(e) if isinstance(e, MessageChanged) else None)
    original = await scene.human.say(scene.room_id, "the flamingo cluster is degraded")
    await wait_until(scene, lambda: engine.messages.by_event_id(original) is not None)
    await scene.human.send(scene.room_id, {
        "msgtype": "m.text", "body": "* the pelican cluster is degraded",
        "m.new_content": {"msgtype": "m.text", "body": "the pelican cluster is degraded"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    })
    await wait_until(scene, lambda: kept(engine, original).body == "the pelican cluster is degraded")
    assert kept(engine, original).edited_ts is not None
    assert [h.message.event_id for h in engine.messages.search("pelican")] == [original]
    assert engine.messages.search("flamingo") == []
    assert any(c.change == "edited" and c.message.event_id == original for c in changes)


async def test_redaction_removes_content_from_store_and_index(scene: Scene) -> None:
    """A redacted message keeps only a tombstone; the index forgets it and MessageChanged is published."""
    engine = scene.bot.engine
    changes: list[MessageChanged] = []
    engine.bus.subscribe(lambda e: changes.append(e) if isinstance(e, MessageChanged) else None)
    secret = await scene.human.say(scene.room_id, "oops the wombat passphrase is hunter2")
    await wait_until(scene, lambda: engine.messages.by_event_id(secret) is not None)
    await scene.human.client.room_redact(scene.room_id, secret, reason="pasted by mistake")
    await wait_until(scene, lambda: kept(engine, secret).redacted)
    stored = kept(engine, secret)
    assert stored.body == "" and stored.meta == {}
    assert engine.messages.search("wombat passphrase") == []
    assert any(c.change == "redacted" and c.message.event_id == secret for c in changes)


async def test_membership_changes_are_tracked(scene: Scene, matrix_user: Any, synapse: Any) -> None:
    """A join and a leave of another person are recorded, with history."""
    from tests.matrix.botkit import Human

    carol = Human(synapse, matrix_user("carol"))
    try:
        await scene.human.client.room_invite(scene.room_id, carol.user_id)
        await carol.client.join(scene.room_id)
        await carol.client.room_leave(scene.room_id)
        state = scene.bot.state

        def left() -> bool:
            history = [(r["user_id"], r["membership"]) for r in state.membership_history(scene.room_id)]
            return (carol.user_id, "leave") in history

        await wait_until(scene, left)
        history = [(r["user_id"], r["membership"]) for r in state.membership_history(scene.room_id)]
        assert (carol.user_id, "invite") in history and (carol.user_id, "join") in history
        assert carol.user_id not in [m["user_id"] for m in state.members(scene.room_id)]
        assert scene.human.user_id in [m["user_id"] for m in state.members(scene.room_id)]
    finally:
        await carol.close()


async def upload(scene: Scene, data: bytes, name: str, mimetype: str) -> str:
    """Upload bytes as the human; returns the mxc URI."""
    response, _ = await scene.human.client.upload(io.BytesIO(data), content_type=mimetype, filename=name,
                                                  filesize=len(data))
    assert isinstance(response, UploadResponse), response
    return response.content_uri


def text_image(text: str) -> bytes:
    """A PNG with large black text on white (readable by tesseract)."""
    image = Image.new("RGB", (900, 160), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.load_default(size=48)
    except TypeError:
        font = ImageFont.load_default()
    draw.text((20, 50), text, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def test_image_is_described_and_read(scene: Scene) -> None:
    """An image is downloaded through authenticated media; Pillow reads its format and size, OCR its text."""
    data = text_image("ERROR 503 upstream")
    mxc = await upload(scene, data, "screenshot.png", "image/png")
    event_id = await scene.human.send(scene.room_id, {
        "msgtype": "m.image", "body": "screenshot.png", "url": mxc,
        "info": {"mimetype": "image/png", "size": len(data), "w": 900, "h": 160},
    })
    engine = scene.bot.engine
    await wait_until(scene, lambda: engine.messages.by_event_id(event_id) is not None, 20)
    stored = kept(engine, event_id)
    attachment = stored.meta["attachments"][0]
    assert attachment["format"] == "PNG" and (attachment["width"], attachment["height"]) == (900, 160)
    assert attachment["url"] == mxc and attachment["size"] == len(data)
    available, _ = ocr_status()
    if available:
        assert attachment["ocr"] == "tesseract"
        assert "503" in stored.body and "upstream" in stored.body.lower()
        assert any(h.message.event_id == event_id for h in engine.messages.search("upstream 503"))
    else:
        assert attachment["ocr"] == "unavailable"


async def test_log_file_is_indexed_and_oversized_file_refused(scene: Scene) -> None:
    """A log file's content is indexed with its message; a file over the limit gets one clear reply."""
    log_text = "\n".join(f"2025-01-0{i} ERROR kestrel-gateway connection reset by peer" for i in range(1, 8))
    data = log_text.encode()
    mxc = await upload(scene, data, "gateway.log", "text/plain")
    log_event = await scene.human.send(scene.room_id, {
        "msgtype": "m.file", "body": "gateway.log", "url": mxc, "info": {"mimetype": "text/plain", "size": len(data)},
    })
    engine = scene.bot.engine
    await wait_until(scene, lambda: engine.messages.by_event_id(log_event) is not None, 20)
    stored = kept(engine, log_event)
    assert stored.meta["attachments"][0]["kind"] == "log"
    assert "kestrel-gateway" in stored.body
    assert [h.message.event_id for h in engine.messages.search("kestrel gateway reset")] == [log_event]

    scene.bot.config.max_file_bytes = 1000
    big = b"x" * 5000
    big_mxc = await upload(scene, big, "core.dump", "application/octet-stream")
    big_event = await scene.human.send(scene.room_id, {
        "msgtype": "m.file", "body": "core.dump", "url": big_mxc,
        "info": {"mimetype": "application/octet-stream", "size": len(big)},
    })
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(big_event, scene.bot_user.user_id), 20)
    assert len(replies) == 1
    assert "over the 1 KB limit" in replies[0]["content"]["body"]
    assert kept(engine, big_event).meta["attachments"][0]["skipped"] == "too large"


async def test_detectors_and_suggesters_see_matrix_chatter(scene: Scene) -> None:
    """Ordinary Matrix messages go through notice (detectors) and the suggesters, as in `Engine.handle`."""
    from hololoom_core.models import Insight, Reply

    engine = scene.bot.engine

    class DecisionDetector:
        def detect(self, message: StoredMessage) -> list[Insight]:
            if "we decided" not in message.body:
                return []
            return [Insight("decision", message.id, message.room_id, message.body, 0.9)]

    def suggest(message: StoredMessage, insights: list[Insight]) -> Reply | None:
        if not insights:
            return None
        return Reply(message.room_id, "Noted as a decision.", kind="suggestion", in_reply_to=message.event_id)

    engine.detectors.append(DecisionDetector())
    engine.suggesters.append(suggest)
    decision = await scene.human.say(scene.room_id, "ok, we decided to roll back the payments deploy")
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(decision, scene.bot_user.user_id))
    assert replies[0]["content"]["body"] == "Noted as a decision."
    stored = kept(engine, decision)
    assert engine.store.scalar("SELECT kind FROM insights WHERE message_id = ?", (stored.id,)) == "decision"
