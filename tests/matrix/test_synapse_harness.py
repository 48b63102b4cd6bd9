"""End-to-end checks of the Synapse harness with matrix-nio: rooms, threads, media, reactions, restart."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import pytest
import pytest_asyncio
from nio import (
    AsyncClient,
    AsyncClientConfig,
    DownloadError,
    Event,
    JoinResponse,
    LoginResponse,
    MemoryDownloadResponse,
    ReactionEvent,
    RoomCreateResponse,
    RoomGetEventResponse,
    RoomInviteResponse,
    RoomMessageFile,
    RoomMessagesResponse,
    RoomMessageText,
    RoomSendError,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
    WhoamiResponse,
)

from hololoom_core.testing.synapse import MatrixUser, SynapseServer

pytestmark = pytest.mark.asyncio

T = TypeVar("T")

#: Fail fast instead of nio's default back-off (up to 60 s) and silent 429 sleeps.
CLIENT_CONFIG = AsyncClientConfig(
    max_timeout_retry_wait_time=1.0,
    max_timeouts=2,
    max_limit_exceeded=0,
    request_timeout=15.0,
)


def make_client(hs: SynapseServer, user: MatrixUser) -> AsyncClient:
    """Return a nio client already logged in with the user's access token."""
    client = AsyncClient(hs.base_url, user.user_id, device_id=user.device_id, config=CLIENT_CONFIG)
    # Not restore_login(): with nio's e2e extra installed it tries to load a crypto store.
    client.user_id = user.user_id
    client.access_token = user.access_token
    return client


async def sync_until(
    client: AsyncClient, find: Callable[[SyncResponse], T | None], within: float = 10.0
) -> T:
    """Long-poll ``/sync`` (continuing from the client's ``next_batch``) until ``find`` returns a value."""
    deadline = time.monotonic() + within
    while True:
        resp = await client.sync(timeout=1000)
        assert isinstance(resp, SyncResponse), resp
        found = find(resp)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{client.user_id}: nothing matching after {within} s of sync")


def timeline_event(room_id: str, event_id: str) -> Callable[[SyncResponse], Event | None]:
    """Build a ``sync_until`` matcher for one event in one joined room's timeline."""

    def find(resp: SyncResponse) -> Event | None:
        room = resp.rooms.join.get(room_id)
        if room is None:
            return None
        return next((e for e in room.timeline.events if e.event_id == event_id), None)

    return find


async def send(client: AsyncClient, room_id: str, event_type: str, content: dict[str, object]) -> str:
    """Send an event and return its event id (asserting success)."""
    resp = await client.room_send(room_id, event_type, content)
    assert isinstance(resp, RoomSendResponse), resp
    return resp.event_id


@dataclass
class Pair:
    """Two logged-in clients that share a private room."""

    alice: AsyncClient
    bob: AsyncClient
    room_id: str


async def create_shared_room(alice: AsyncClient, bob: AsyncClient) -> str:
    """Alice creates a room and invites Bob; Bob sees the invite via sync and joins."""
    created = await alice.room_create(name="harness")
    assert isinstance(created, RoomCreateResponse), created
    room_id = created.room_id
    invited = await alice.room_invite(room_id, bob.user_id)
    assert isinstance(invited, RoomInviteResponse), invited
    await sync_until(bob, lambda r: room_id if room_id in r.rooms.invite else None)
    joined = await bob.join(room_id)
    assert isinstance(joined, JoinResponse), joined
    return room_id


@pytest_asyncio.fixture
async def pair(synapse: SynapseServer, matrix_user: Callable[..., MatrixUser]) -> AsyncIterator[Pair]:
    """Alice and Bob, both in one room, each having done an initial sync."""
    alice = make_client(synapse, matrix_user("alice"))
    bob = make_client(synapse, matrix_user("bob"))
    try:
        await alice.sync(timeout=0)
        await bob.sync(timeout=0)
        room_id = await create_shared_room(alice, bob)
        await sync_until(bob, lambda r: True if room_id in r.rooms.join else None)
        yield Pair(alice, bob, room_id)
    finally:
        await alice.close()
        await bob.close()


async def test_register_user_returns_working_token(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser]
) -> None:
    """A registered user's token is accepted by the server (whoami) and the IDs match."""
    user = matrix_user("who")
    assert user.user_id == f"@{user.localpart}:{synapse.server_name}"
    client = make_client(synapse, user)
    try:
        who = await client.whoami()
        assert isinstance(who, WhoamiResponse), who
        assert who.user_id == user.user_id
        assert who.device_id == user.device_id
    finally:
        await client.close()


async def test_invite_join_and_message(pair: Pair) -> None:
    """A message Alice sends after Bob joined reaches Bob through sync."""
    event_id = await send(
        pair.alice, pair.room_id, "m.room.message", {"msgtype": "m.text", "body": "hello bob"}
    )
    event = await sync_until(pair.bob, timeline_event(pair.room_id, event_id))
    assert isinstance(event, RoomMessageText)
    assert event.body == "hello bob"
    assert event.sender == pair.alice.user_id


async def test_thread_reply_round_trip(pair: Pair) -> None:
    """A reply with ``rel_type: m.thread`` arrives intact and the server aggregates the thread."""
    root_id = await send(pair.alice, pair.room_id, "m.room.message", {"msgtype": "m.text", "body": "!status"})
    await sync_until(pair.bob, timeline_event(pair.room_id, root_id))
    relation = {
        "rel_type": "m.thread",
        "event_id": root_id,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": root_id},
    }
    reply_id = await send(
        pair.bob,
        pair.room_id,
        "m.room.message",
        {"msgtype": "m.text", "body": "all green", "m.relates_to": relation},
    )
    reply = await sync_until(pair.alice, timeline_event(pair.room_id, reply_id))
    relates = reply.source["content"]["m.relates_to"]
    assert relates["rel_type"] == "m.thread"
    assert relates["event_id"] == root_id
    assert relates["m.in_reply_to"]["event_id"] == root_id

    root = await pair.alice.room_get_event(pair.room_id, root_id)
    assert isinstance(root, RoomGetEventResponse), root
    thread = root.event.source["unsigned"]["m.relations"]["m.thread"]
    assert thread["count"] == 1
    assert thread["latest_event"]["event_id"] == reply_id


async def test_upload_and_authenticated_download(synapse: SynapseServer, pair: Pair) -> None:
    """An uploaded file shared in the room downloads byte-for-byte, and only with a token."""
    payload = os.urandom(256 * 1024)
    uploaded, _keys = await pair.alice.upload(
        io.BytesIO(payload),
        content_type="application/octet-stream",
        filename="blob.bin",
        filesize=len(payload),
    )
    assert isinstance(uploaded, UploadResponse), uploaded
    mxc = uploaded.content_uri
    assert mxc.startswith(f"mxc://{synapse.server_name}/")
    event_id = await send(
        pair.alice,
        pair.room_id,
        "m.room.message",
        {"msgtype": "m.file", "body": "blob.bin", "url": mxc, "info": {"size": len(payload)}},
    )
    event = await sync_until(pair.bob, timeline_event(pair.room_id, event_id))
    assert isinstance(event, RoomMessageFile)
    downloaded = await pair.bob.download(mxc=event.url)
    assert isinstance(downloaded, MemoryDownloadResponse), downloaded
    assert downloaded.body == payload

    server_name, media_id = mxc.removeprefix("mxc://").split("/", 1)
    async with aiohttp.ClientSession() as http:
        authed = f"{synapse.base_url}/_matrix/client/v1/media/download/{server_name}/{media_id}"
        async with http.get(authed) as resp:
            assert resp.status == 401  # no token, no media
        legacy = f"{synapse.base_url}/_matrix/media/v3/download/{server_name}/{media_id}"
        async with http.get(legacy) as resp:
            assert resp.status == 404  # enable_authenticated_media freezes the old path

    missing = await pair.bob.download(mxc=f"mxc://{server_name}/doesnotexist")
    assert isinstance(missing, DownloadError)


async def test_reaction(pair: Pair) -> None:
    """An ``m.annotation`` reaction reaches the other side; an identical second one is refused."""
    msg_id = await send(pair.alice, pair.room_id, "m.room.message", {"msgtype": "m.text", "body": "deploy?"})
    await sync_until(pair.bob, timeline_event(pair.room_id, msg_id))
    content: dict[str, object] = {
        "m.relates_to": {"rel_type": "m.annotation", "event_id": msg_id, "key": "👍"}
    }
    reaction_id = await send(pair.bob, pair.room_id, "m.reaction", content)
    reaction = await sync_until(pair.alice, timeline_event(pair.room_id, reaction_id))
    assert isinstance(reaction, ReactionEvent)
    assert reaction.reacts_to == msg_id
    assert reaction.key == "👍"
    assert reaction.sender == pair.bob.user_id

    again = await pair.bob.room_send(pair.room_id, "m.reaction", content)
    assert isinstance(again, RoomSendError)  # Synapse: 400, same annotation twice


@pytest.mark.usefixtures("synapse_installed")
async def test_restart_keeps_data() -> None:
    """After ``restart()`` on the same port, old tokens, password login and history survive."""
    hs = SynapseServer()
    await asyncio.to_thread(hs.start)
    try:
        user = await asyncio.to_thread(hs.create_user, "carol", "carol-pw")
        user_id = user.user_id
        client = make_client(hs, user)
        try:
            created = await client.room_create(name="persist")
            assert isinstance(created, RoomCreateResponse), created
            room_id = created.room_id
            before_id = await send(
                client, room_id, "m.room.message", {"msgtype": "m.text", "body": "before restart"}
            )
            first = await client.sync(timeout=0)
            assert isinstance(first, SyncResponse), first
            since = first.next_batch
        finally:
            await client.close()

        base_url, data_dir = hs.base_url, hs.data_dir
        await asyncio.to_thread(hs.restart)
        assert hs.running
        assert (hs.base_url, hs.data_dir) == (base_url, data_dir)

        old = make_client(hs, user)
        fresh = AsyncClient(hs.base_url, user_id, config=CLIENT_CONFIG)
        try:
            who = await old.whoami()
            assert isinstance(who, WhoamiResponse) and who.user_id == user_id, who
            resumed = await old.sync(timeout=0, since=since)  # saved token still valid
            assert isinstance(resumed, SyncResponse), resumed

            login = await fresh.login("carol-pw", device_name="after-restart")
            assert isinstance(login, LoginResponse), login
            initial = await fresh.sync(timeout=0)
            assert isinstance(initial, SyncResponse), initial
            bodies = [
                e.body for e in initial.rooms.join[room_id].timeline.events if isinstance(e, RoomMessageText)
            ]
            assert bodies == ["before restart"]

            history = await fresh.room_messages(room_id, limit=50)
            assert isinstance(history, RoomMessagesResponse), history
            assert before_id in {e.event_id for e in history.chunk}
            after_id = await send(
                fresh, room_id, "m.room.message", {"msgtype": "m.text", "body": "after restart"}
            )
            seen = await sync_until(old, timeline_event(room_id, after_id))
            assert isinstance(seen, RoomMessageText)
        finally:
            await old.close()
            await fresh.close()
    finally:
        await asyncio.to_thread(hs.stop)
        assert not hs.running
