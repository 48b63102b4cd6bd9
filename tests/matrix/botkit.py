"""Helpers for tests that run the HoloLoom bot against the session's real Synapse.

`Human` is a plain matrix-nio client that keeps every timeline event it has seen; `running_bot` runs
an engine plus `MatrixTransport` on the test's event loop; `bot_config` builds the config tree.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from nio import AsyncClient, AsyncClientConfig, RoomCreateResponse, RoomSendResponse, SyncResponse

from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.testing.synapse import MatrixUser, SynapseServer
from hololoom_core.transport.matrix.transport import MatrixTransport

CLIENT_CONFIG = AsyncClientConfig(
    max_timeout_retry_wait_time=0.5, max_timeouts=2, max_limit_exceeded=0, request_timeout=15.0,
    encryption_enabled=False,
)


def bot_config(
    synapse: SynapseServer,
    bot: MatrixUser,
    data_dir: Path,
    *,
    password: bool = False,
    sections: dict[str, Any] | None = None,
    **matrix: Any,
) -> Config:
    """A config for the bot account: offline answers, fast backoff, everything else as given."""
    section: dict[str, Any] = {
        "homeserver": synapse.base_url,
        "user_id": bot.user_id,
        "backoff_initial_s": 0.2,
        "backoff_max_s": 1.0,
        "sync_timeout_ms": 10_000,
        "encryption": False,
    }
    if password:
        section["password"] = bot.password
    else:
        section["access_token"] = bot.access_token
        section["device_id"] = bot.device_id
    section.update(matrix)
    identity = {"display_name": "HoloLoom"}  # the bot's identity lives in `bot:`, the rest under `matrix:`
    identity.update({key: section.pop(key) for key in ("display_name", "admins", "command_prefix") if key in section})
    tree: dict[str, Any] = {"bot": identity, "matrix": section, "hololoom": {"data_dir": str(data_dir), "config_mode": "bare"},
                            "store": {"synchronous": "normal"}}
    tree.update(sections or {})
    return Config.model_validate(tree)


@asynccontextmanager
async def running_bot(config: Config) -> AsyncIterator[MatrixTransport]:
    """An engine and its Matrix transport running in a task until the block ends."""
    engine = Engine(config)
    await engine.start()
    transport = MatrixTransport(engine)
    task = asyncio.ensure_future(transport.run())
    try:
        deadline = time.monotonic() + 20
        while transport.sync is None or not transport.sync.first_sync_done.is_set():
            if task.done():
                task.result()
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not finish its first sync in 20 s")
            await asyncio.sleep(0.02)
        yield transport
    finally:
        transport.stop()
        try:
            await asyncio.wait_for(task, 15)
        finally:
            await engine.close()


class Human:
    """A person's matrix-nio client that remembers every event it has synced."""

    def __init__(self, synapse: SynapseServer, user: MatrixUser, *, crypto_dir: Path | None = None) -> None:
        self.user = user
        self.encrypted = crypto_dir is not None
        if crypto_dir is not None:
            crypto_dir.mkdir(parents=True, exist_ok=True)
            config = AsyncClientConfig(max_timeout_retry_wait_time=0.5, max_timeouts=2, max_limit_exceeded=0,
                                       request_timeout=15.0, encryption_enabled=True, store_sync_tokens=False)
            self.client = AsyncClient(synapse.base_url, user.user_id, device_id=user.device_id,
                                      store_path=str(crypto_dir), config=config)
            self.client.restore_login(user.user_id, user.device_id, user.access_token)
        else:
            self.client = AsyncClient(synapse.base_url, user.user_id, device_id=user.device_id,
                                      config=CLIENT_CONFIG)
            self.client.user_id = user.user_id
            self.client.access_token = user.access_token
        self.events: list[dict[str, Any]] = []
        self.invites: set[str] = set()

    @property
    def user_id(self) -> str:
        """The person's Matrix id."""
        return self.user.user_id

    async def sync_once(self, timeout_ms: int = 500) -> None:
        """One sync; new timeline events are added to `events` (each with its `room_id`)."""
        response = await self.client.sync(timeout=timeout_ms, sync_filter={"room": {"timeline": {"limit": 200}}})
        assert isinstance(response, SyncResponse), response
        for room_id, info in response.rooms.join.items():
            for event in info.timeline.events:
                source = dict(getattr(event, "source", {}) or {})
                source["room_id"] = room_id
                self.events.append(source)
        self.invites.update(response.rooms.invite)
        if self.encrypted:
            await self.keys()

    async def keys(self) -> None:
        """Key upkeep for an encrypting client (what `sync_forever` would do)."""
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def wait_for(self, find: Callable[[list[dict[str, Any]]], Any], within: float = 15.0) -> Any:
        """Sync until `find(events)` returns something truthy, and return it."""
        deadline = time.monotonic() + within
        while True:
            found = find(self.events)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id}: condition not met within {within} s; "
                                     f"last events: {[e.get('content', {}).get('body') for e in self.events[-5:]]}")
            await self.sync_once()

    async def send(self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
        """Send an event and return its id."""
        response = await self.client.room_send(room_id, event_type, content, ignore_unverified_devices=True)
        assert isinstance(response, RoomSendResponse), response
        return response.event_id

    async def say(
        self, room_id: str, body: str, *, thread: str | None = None, mention: str | None = None,
        reply_to: str | None = None,
    ) -> str:
        """Send a text message, optionally into a thread, mentioning a user, or replying to an event."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if mention:
            content["m.mentions"] = {"user_ids": [mention]}
        if thread:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread, "is_falling_back": True,
                                       "m.in_reply_to": {"event_id": thread}}
        elif reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send(room_id, content)

    async def create_room(self, invite: list[str], *, name: str = "ops", encrypted: bool = False,
                          is_direct: bool = False) -> str:
        """Create a room, inviting `invite`."""
        initial_state = []
        if encrypted:
            initial_state.append({"type": "m.room.encryption", "state_key": "",
                                  "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
        response = await self.client.room_create(name=None if is_direct else name, invite=invite,
                                                 initial_state=initial_state, is_direct=is_direct)
        assert isinstance(response, RoomCreateResponse), response
        return response.room_id

    def replies_to(self, event_id: str, sender: str) -> list[dict[str, Any]]:
        """Events from `sender` that reply to `event_id` (directly or as the thread's first reply)."""
        found = []
        for event in self.events:
            if event.get("sender") != sender or event.get("type") != "m.room.message":
                continue
            relates = (event.get("content") or {}).get("m.relates_to") or {}
            in_reply = (relates.get("m.in_reply_to") or {}).get("event_id")
            if in_reply == event_id:
                found.append(event)
        return found

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.client.close()


async def bot_joined(human: Human, room_id: str, bot_user_id: str) -> None:
    """Wait until the bot's join shows in the room."""

    def joined(events: list[dict[str, Any]]) -> bool:
        return any(e.get("type") == "m.room.member" and e.get("state_key") == bot_user_id
                   and (e.get("content") or {}).get("membership") == "join" and e.get("room_id") == room_id
                   for e in events)

    await human.wait_for(joined)


@dataclass
class Scene:
    """A human and the bot in one room."""

    human: Human
    bot: MatrixTransport
    bot_user: MatrixUser
    room_id: str


@pytest_asyncio.fixture(name="scene")
async def scene_fixture(synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path) -> AsyncIterator[Scene]:
    """Alice invites the bot (she is allowed to) into a fresh room; the bot joins."""
    alice_user = matrix_user("alice")
    bot_user = matrix_user("bot")
    config = bot_config(
        synapse, bot_user, tmp_path, auto_join_users=[alice_user.user_id], ocr=True,
        sections={"acl": {"commands": {"runbook": {"deny_users": [alice_user.user_id]}}}},
    )
    human = Human(synapse, alice_user)
    try:
        await human.sync_once(0)
        async with running_bot(config) as bot:
            room_id = await human.create_room([bot_user.user_id])
            await bot_joined(human, room_id, bot_user.user_id)
            yield Scene(human, bot, bot_user, room_id)
    finally:
        await human.close()
