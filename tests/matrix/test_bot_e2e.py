"""End-to-end encryption: a person and the bot talk in an encrypted room; undecryptable events are reported once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hololoom_core.events import EngineError
from hololoom_core.testing.synapse import MatrixUser, SynapseServer
from hololoom_core.transport.matrix.session import crypto_store_dir
from tests.matrix.botkit import Human, bot_config, bot_joined, running_bot

pytestmark = pytest.mark.asyncio


async def test_encrypted_room_conversation(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """Commands and questions in an encrypted room are decrypted, answered encrypted, readable by the asker,
    and still after a restart of the bot (persistent crypto store)."""
    alice_user, bot_user = matrix_user("alice"), matrix_user("bot")
    config = bot_config(synapse, bot_user, tmp_path / "bot", auto_join_users=[alice_user.user_id], encryption=True)
    alice = Human(synapse, alice_user, crypto_dir=tmp_path / "alice-crypto")
    errors: list[EngineError] = []
    try:
        await alice.sync_once(0)
        room_id = await alice.create_room([], encrypted=True)
        await alice.sync_once(0)
        early = [await alice.say(room_id, f"before the bot joined {n}") for n in range(2)]
        async with running_bot(config) as bot:
            bot.engine.bus.subscribe(lambda e: errors.append(e) if isinstance(e, EngineError) else None)
            assert bot.encryption is not None and bot.encryption.enabled
            await alice.client.room_invite(room_id, bot_user.user_id)
            await bot_joined(alice, room_id, bot_user.user_id)
            await alice.sync_once(0)
            command = await alice.say(room_id, "!ping")
            replies = await alice.wait_for(lambda _: alice.replies_to(command, bot_user.user_id), 30)
            assert replies[0]["content"]["body"].startswith("pong")
            question = await alice.say(room_id, "hololoom: certificate expires tomorrow, what now?",
                                       mention=bot_user.user_id)
            answer = await alice.wait_for(lambda _: alice.replies_to(question, bot_user.user_id), 30)
            assert "TL;DR" in answer[0]["content"]["body"]
            stored = bot.engine.messages.by_event_id(command)
            assert stored is not None and stored.body == "!ping"
            room = bot.state.room(room_id)
            assert room is not None and room.encrypted
            assert bot.client is not None
            raw = await bot.client.room_get_event(room_id, answer[0]["event_id"])
            assert raw.event.decrypted  # what went over the wire was encrypted
            undecryptable = bot.state.undecryptable(room_id)
            assert {row["event_id"] for row in undecryptable} <= set(early)
            if undecryptable:
                reports = [e for e in errors if e.where == "matrix e2e"]
                assert len(reports) == 1 and "cannot decrypt" in reports[0].error
        store_files = list(crypto_store_dir(config).glob("*.db"))
        assert store_files, "the crypto store is kept under the data dir"
        async with running_bot(config) as bot:  # restarted: same device, same keys, still talking
            assert bot.encryption is not None and bot.encryption.enabled
            again = await alice.say(room_id, "!ping")
            replies = await alice.wait_for(lambda _: alice.replies_to(again, bot_user.user_id), 30)
            assert replies[0]["content"]["body"].startswith("pong")
            stored_again = bot.engine.messages.by_event_id(again)
            assert stored_again is not None and stored_again.body == "!ping"
    finally:
        await alice.close()
