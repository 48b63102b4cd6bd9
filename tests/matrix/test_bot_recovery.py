"""Nothing lost, nothing answered twice: Synapse restarts, SIGKILL during a burst, crashes around sending."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hololoom_core.engine import Engine
from hololoom_core.events import StatusChanged
from hololoom_core.models import Reply
from hololoom_core.testing.synapse import MatrixUser, SynapseServer
from hololoom_core.transport.matrix.outbox import txn_base
from hololoom_core.transport.matrix.render import Placement, message_content
from tests.matrix.botkit import Human, bot_config, bot_joined, running_bot

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[2]


def answered_once(human: Human, commands: list[str], bot: str) -> bool:
    """True when every command has at least one reply from the bot."""
    return all(human.replies_to(c, bot) for c in commands)


def reply_counts(human: Human, commands: list[str], bot: str) -> dict[str, int]:
    """How many replies each command got."""
    return {c: len(human.replies_to(c, bot)) for c in commands}


async def settle(human: Human, seconds: float) -> None:
    """Keep syncing for a while so late duplicates would show up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await human.sync_once(200)


async def test_synapse_restart_mid_conversation(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """Commands before, during and after a homeserver restart are each answered exactly once."""
    hs = synapse  # the session's server, restarted in place (same port, same data)
    alice_user, bot_user = matrix_user("alice"), matrix_user("bot")
    config = bot_config(hs, bot_user, tmp_path, auto_join_users=[alice_user.user_id], sync_timeout_ms=2000)
    human = Human(hs, alice_user)
    statuses: list[str] = []
    try:
        await human.sync_once(0)
        async with running_bot(config) as bot:
            bot.engine.bus.subscribe(
                lambda e: statuses.append(e.state) if isinstance(e, StatusChanged) and e.part == "matrix" else None
            )
            room_id = await human.create_room([bot_user.user_id])
            await bot_joined(human, room_id, bot_user.user_id)
            before = [await human.say(room_id, f"!ping before {n}") for n in range(4)]
            await asyncio.to_thread(hs.restart)
            await human.client.close()
            human.client = Human(hs, alice_user).client
            after = [await human.say(room_id, f"!ping after {n}") for n in range(4)]
            question = await human.say(room_id, "hololoom: what do I do when the disk is full?",
                                       mention=bot_user.user_id)
            everything = [*before, *after, question]
            await human.sync_once(0)
            await human.wait_for(lambda _: answered_once(human, everything, bot_user.user_id), 40)
            await settle(human, 1.0)
            counts = reply_counts(human, everything, bot_user.user_id)
            assert set(counts.values()) == {1}, counts
            stored = {m.event_id for m in bot.engine.messages.recent(room_id, limit=100)}
            assert set(everything) <= stored
            assert "reconnecting" in statuses and statuses[-1] == "connected"
            assert bot.engine.store.scalar("SELECT count(*) FROM pending_actions") == 0
            assert bot.engine.store.scalar("SELECT count(*) FROM messages WHERE delivery = 'pending'") == 0
    finally:
        await human.close()


def start_bot_process(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m hololoom_core.cli bot` as a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "hololoom_core.cli", "bot", "--config", str(config_path)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"),  # noqa: SIM115
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_sigkill_during_burst_resumes_without_loss_or_duplicates(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """The bot process is SIGKILLed while answering a burst; restarted, it answers every command exactly once."""
    alice_user, bot_user = matrix_user("alice"), matrix_user("bot")
    data_dir = tmp_path / "data"
    config = {
        "matrix": {
            "homeserver": synapse.base_url, "user_id": bot_user.user_id, "access_token": bot_user.access_token,
            "device_id": bot_user.device_id, "auto_join_users": [alice_user.user_id], "encryption": False,
            "backoff_initial_s": 0.2, "backoff_max_s": 1.0, "sync_timeout_ms": 5000,
        },
        "hololoom": {"data_dir": str(data_dir), "config_mode": "bare"},
    }
    config_path = tmp_path / "bot.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "bot.stderr"
    human = Human(synapse, alice_user)
    process = start_bot_process(config_path, log_path)
    try:
        await human.sync_once(0)
        room_id = await human.create_room([bot_user.user_id])
        await bot_joined(human, room_id, bot_user.user_id)
        burst = [await human.say(room_id, f"!ping burst {n}") for n in range(12)]
        await human.wait_for(lambda _: any(human.replies_to(c, bot_user.user_id) for c in burst), 20)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        answered_before_kill = sum(1 for c in burst if human.replies_to(c, bot_user.user_id))
        more = [await human.say(room_id, f"!ping while down {n}") for n in range(3)]
        process = start_bot_process(config_path, log_path)
        everything = burst + more
        await human.wait_for(lambda _: answered_once(human, everything, bot_user.user_id), 40)
        await settle(human, 1.0)
        counts = reply_counts(human, everything, bot_user.user_id)
        assert set(counts.values()) == {1}, (counts, answered_before_kill)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, log_path.read_text()[-2000:]
        engine = Engine(bot_config(synapse, bot_user, data_dir))
        try:
            stored = {m.event_id for m in engine.messages.recent(room_id, limit=200)}
            assert set(everything) <= stored
            assert engine.store.scalar("SELECT count(*) FROM pending_actions") == 0
            assert engine.store.scalar("SELECT value FROM matrix_state WHERE key = 'next_batch'")
        finally:
            await engine.close()
        assert "stopped cleanly" in log_path.read_text()
        assert (data_dir / "logs" / "bot.log").is_file()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        await human.close()


async def test_reply_stored_but_not_sent_is_sent_once_after_restart(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """Crash windows around sending: a pending reply is sent on restart; one already sent is not sent again."""
    alice_user, bot_user = matrix_user("alice"), matrix_user("bot")
    config = bot_config(synapse, bot_user, tmp_path, auto_join_users=[alice_user.user_id])
    human = Human(synapse, alice_user)
    try:
        await human.sync_once(0)
        async with running_bot(config) as bot:
            room_id = await human.create_room([bot_user.user_id])
            await bot_joined(human, room_id, bot_user.user_id)
            first = await human.say(room_id, "the cache cluster is warming up")
            second = await human.say(room_id, "the queue backlog is draining")
            await human.wait_for(lambda _: bot.engine.messages.by_event_id(second) is not None)
        engine = Engine(config)
        try:
            # Window 1: the reply is stored (pending) and the process dies before sending.
            stored_first = engine.messages.by_event_id(first)
            engine.store_replies([Reply(room_id, "noted: cache warming", kind="command", in_reply_to=first)],
                                 answering=stored_first)
            # Window 2: the reply is sent, and the process dies before marking it sent.
            stored_second = engine.messages.by_event_id(second)
            reply = Reply(room_id, "noted: backlog draining", kind="command", in_reply_to=second)
            engine.store_replies([reply], answering=stored_second)
            row = engine.store.query_one("SELECT event_id, meta FROM messages WHERE id = ?", (reply.message_id,))
            assert row is not None and reply.message_id is not None
            txn = f"{txn_base(row['event_id'], json.loads(row['meta']))}-0"
        finally:
            await engine.close()
        raw = Human(synapse, bot_user)
        try:
            content = message_content("noted: backlog draining", placement=Placement(None, second))
            sent_by_hand = (await raw.client.room_send(room_id, "m.room.message", content, tx_id=txn)).event_id
        finally:
            await raw.close()
        async with running_bot(config) as bot:
            await human.wait_for(lambda _: human.replies_to(first, bot_user.user_id)
                                 and human.replies_to(second, bot_user.user_id), 20)
            await human.wait_for(
                lambda _: bot.engine.store.scalar("SELECT count(*) FROM messages WHERE delivery = 'pending'") == 0
            )
            await settle(human, 1.0)
            assert len(human.replies_to(first, bot_user.user_id)) == 1
            assert [e["event_id"] for e in human.replies_to(second, bot_user.user_id)] == [sent_by_hand]
            delivered = bot.engine.messages.get(reply.message_id)
            assert delivered is not None and delivered.event_id == sent_by_hand
    finally:
        await human.close()




async def test_gap_longer_than_the_timeline_is_backfilled(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """70 messages while the bot is down (more than the sync timeline holds): all stored, commands answered once."""
    alice_user, bot_user = matrix_user("alice"), matrix_user("bot")
    config = bot_config(synapse, bot_user, tmp_path, auto_join_users=[alice_user.user_id])
    human = Human(synapse, alice_user)
    try:
        await human.sync_once(0)
        async with running_bot(config) as bot:
            room_id = await human.create_room([bot_user.user_id])
            await bot_joined(human, room_id, bot_user.user_id)
        sent: list[str] = []
        commands: list[str] = []
        for n in range(70):
            if n % 14 == 0:
                commands.append(await human.say(room_id, f"!ping gap {n}"))
                sent.append(commands[-1])
            else:
                sent.append(await human.say(room_id, f"chatter while the bot is away, line {n}"))
        async with running_bot(config) as bot:
            await human.wait_for(lambda _: answered_once(human, commands, bot_user.user_id), 30)
            await settle(human, 1.0)
            assert set(reply_counts(human, commands, bot_user.user_id).values()) == {1}
            stored = {m.event_id for m in bot.engine.messages.recent(room_id, limit=200)}
            assert set(sent) <= stored
            assert bot.sync is not None and bot.sync.processor.backfilled >= 20
    finally:
        await human.close()


async def test_first_run_does_not_answer_old_history(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """The bot's account was already in the room; its very first run answers only what comes after it."""
    alice_user, bot_user = matrix_user("alice"), matrix_user("bot")
    alice, raw_bot = Human(synapse, alice_user), Human(synapse, bot_user)
    try:
        room_id = await alice.create_room([bot_user.user_id])
        await raw_bot.client.join(room_id)
        old = await alice.say(room_id, "!ping from before the bot ever ran")
        config = bot_config(synapse, bot_user, tmp_path, auto_join_users=[alice_user.user_id])
        async with running_bot(config) as bot:
            new = await alice.say(room_id, "!ping")
            await alice.wait_for(lambda _: alice.replies_to(new, bot_user.user_id), 20)
            await settle(alice, 0.5)
            assert alice.replies_to(old, bot_user.user_id) == []
            assert bot.engine.messages.by_event_id(old) is None
    finally:
        await alice.close()
        await raw_bot.close()
