"""The bot in a real room on Synapse: commands, questions in the room and in a thread, ACL refusal, help."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hololoom_core.testing.synapse import MatrixUser, SynapseServer
from tests.matrix.botkit import (
    Human,
    Scene,
    bot_config,
    bot_joined,
    running_bot,
    scene_fixture,  # noqa: F401  (the `scene` fixture)
)

pytestmark = pytest.mark.asyncio


async def test_ping_command_gets_one_reply(scene: Scene) -> None:
    """`!ping` gets exactly one reply, as a reply to the command, and the reply is marked sent in the store."""
    command = await scene.human.say(scene.room_id, "!ping")
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(command, scene.bot_user.user_id))
    assert len(replies) == 1
    assert replies[0]["content"]["body"].startswith("pong")
    assert replies[0]["content"]["msgtype"] == "m.notice"
    row = scene.bot.engine.store.query_one(
        "SELECT delivery, event_id FROM messages WHERE is_bot = 1 AND reply_to = ?", (command,)
    )
    assert row is not None and row["delivery"] == "sent" and row["event_id"] == replies[0]["event_id"]


async def test_question_in_room_gets_structured_answer_in_new_thread(scene: Scene) -> None:
    """A mention in the main timeline is answered in a thread started on the question, with all four sections."""
    question = await scene.human.say(
        scene.room_id, "HoloLoom: the disk on db-1 is full, what should I do?", mention=scene.bot_user.user_id
    )
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(question, scene.bot_user.user_id), 30)
    assert len(replies) == 1
    content = replies[0]["content"]
    for section in ("PLAN", "ANSWER", "VERIFY", "TL;DR"):
        assert section in content["body"]
    assert content["m.relates_to"]["rel_type"] == "m.thread"
    assert content["m.relates_to"]["event_id"] == question
    assert content["format"] == "org.matrix.custom.html" and "<" in content["formatted_body"]


async def test_question_in_thread_is_answered_in_that_thread(scene: Scene) -> None:
    """A question asked inside an existing thread is answered in the same thread."""
    root = await scene.human.say(scene.room_id, "deploy of api v42 is starting")
    question = await scene.human.say(scene.room_id, "@hololoom how do I roll back a failed deploy?", thread=root)
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(question, scene.bot_user.user_id), 30)
    relates = replies[0]["content"]["m.relates_to"]
    assert relates["rel_type"] == "m.thread" and relates["event_id"] == root
    assert "ANSWER" in replies[0]["content"]["body"]


async def test_acl_refusal_and_help_lists_only_allowed(scene: Scene) -> None:
    """A denied command gets one polite line; `!help` does not list it for that user."""
    refused = await scene.human.say(scene.room_id, "!runbook disk-full")
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(refused, scene.bot_user.user_id))
    body = replies[0]["content"]["body"]
    assert body.startswith("Sorry,") and "\n" not in body
    help_event = await scene.human.say(scene.room_id, "!help")
    help_reply = await scene.human.wait_for(lambda _: scene.human.replies_to(help_event, scene.bot_user.user_id))
    text = help_reply[0]["content"]["body"]
    assert "!ping" in text and "!runbook" not in text


async def test_ordinary_chatter_is_stored_not_answered(scene: Scene) -> None:
    """A message not addressed to the bot is stored and indexed but gets no reply."""
    chatter = await scene.human.say(scene.room_id, "lunch at noon, anyone? the payments canary looks fine")
    marker = await scene.human.say(scene.room_id, "!ping")
    await scene.human.wait_for(lambda _: scene.human.replies_to(marker, scene.bot_user.user_id))
    assert scene.human.replies_to(chatter, scene.bot_user.user_id) == []
    stored = scene.bot.engine.messages.by_event_id(chatter)
    assert stored is not None and stored.transport == "matrix"
    hits = scene.bot.engine.messages.search("payments canary")
    assert any(hit.message.event_id == chatter for hit in hits)


async def test_direct_message_is_answered_without_mention(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """In a direct room every message is for the bot; `allow_private: false` refuses a command there."""
    alice_user, bot_user = matrix_user("alice"), matrix_user("bot")
    config = bot_config(synapse, bot_user, tmp_path, auto_join_users=[alice_user.user_id],
                        sections={"acl": {"commands": {"runbook": {"allow_private": False}}}})
    alice = Human(synapse, alice_user)
    try:
        await alice.sync_once(0)
        async with running_bot(config) as bot:
            dm = await alice.create_room([bot_user.user_id], is_direct=True)
            await bot_joined(alice, dm, bot_user.user_id)
            question = await alice.say(dm, "how do I fix a pod in crashloopbackoff?")
            answer = await alice.wait_for(lambda _: alice.replies_to(question, bot_user.user_id), 30)
            assert "ANSWER" in answer[0]["content"]["body"]
            direct = bot.state.room(dm)
            assert direct is not None and direct.is_direct
            refused = await alice.say(dm, "!runbook")
            reply = await alice.wait_for(lambda _: alice.replies_to(refused, bot_user.user_id))
            assert "direct message" in reply[0]["content"]["body"]
    finally:
        await alice.close()


async def test_invites_outside_the_policy_are_declined(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """An invite from a stranger is declined; the allowed user's room outside `matrix.rooms` is declined too."""
    alice_user, mallory_user, bot_user = matrix_user("alice"), matrix_user("mallory"), matrix_user("bot")
    alice, mallory = Human(synapse, alice_user), Human(synapse, mallory_user)
    try:
        allowed_room = await alice.create_room([])
        config = bot_config(synapse, bot_user, tmp_path, auto_join_users=[alice_user.user_id], rooms=[allowed_room])
        async with running_bot(config) as bot:
            other_room = await alice.create_room([bot_user.user_id])
            stranger_room = await mallory.create_room([bot_user.user_id])
            await alice.client.room_invite(allowed_room, bot_user.user_id)
            await bot_joined(alice, allowed_room, bot_user.user_id)

            def declined() -> bool:
                records = {r.room_id: r.membership for r in bot.state.rooms(None)}
                return (records.get(other_room), records.get(stranger_room), records.get(allowed_room)) == (
                    "declined", "declined", "join")

            await alice.wait_for(lambda _: declined(), 15)
            assert {r.room_id for r in bot.state.rooms()} == {allowed_room}
    finally:
        await alice.close()
        await mallory.close()
