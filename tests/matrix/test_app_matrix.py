"""The app with Matrix configured (Pilot, real Synapse): rooms listed, live messages, operator speaks as the bot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hololoom_core.testing.synapse import MatrixUser, SynapseServer
from hololoom_tui.app import make_app
from hololoom_tui.tabs.chat import RoomItem
from hololoom_tui.widgets.chat_entries import PersonEntry
from tests.matrix.botkit import Human, bot_config, bot_joined

pytestmark = pytest.mark.asyncio


async def test_chat_tab_with_a_matrix_room(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """The bot runs as the app's `matrix` worker; its room shows up, messages arrive live, the operator replies."""
    alice_user, bot_user = matrix_user("alice"), matrix_user("bot")
    config = bot_config(synapse, bot_user, tmp_path, auto_join_users=[alice_user.user_id])
    app = make_app(config)
    alice = Human(synapse, alice_user)
    try:
        await alice.sync_once(0)
        async with app.run_test(size=(120, 40)) as pilot:

            async def until(predicate: Callable[[], bool], what: str, tries: int = 300) -> None:
                for _ in range(tries):
                    if predicate():
                        return
                    await alice.sync_once(50)
                    await pilot.pause(0.02)
                raise AssertionError(f"timed out waiting for {what}")

            await until(lambda: app.engine_bound, "the engine (built after the first frame)")
            assert any(w.name == "matrix" and w.group == "matrix" for w in app.workers)

            await until(lambda: app.status_bar.matrix.get("state") == "connected", "the connected state")
            room_id = await alice.create_room([bot_user.user_id], name="war-room")
            await bot_joined(alice, room_id, bot_user.user_id)
            await until(lambda: any(isinstance(i, RoomItem) and i.room_id == room_id
                                    for i in app.query_one("#room-list").children), "the room in the list")
            bar = app.status_bar.render().plain
            assert "matrix connected" in bar and "synced" in bar
            app._show_room(room_id)
            await alice.say(room_id, "hello from matrix, the api is slow")
            await until(lambda: any("hello from matrix" in str(e.message.body)
                                    for e in app.chat.query(PersonEntry)), "the live message")
            messages_before = app.status_bar.stats.get("messages", 0)
            await pilot.click("#chat-input")
            await pilot.press(*"ack, looking into it", "enter")
            said = await alice.wait_for(lambda events: [e for e in events if e.get("sender") == bot_user.user_id
                                                        and (e.get("content") or {}).get("body")
                                                        == "ack, looking into it"], 15)
            assert said[0]["content"]["msgtype"] == "m.text"
            await until(lambda: app.status_bar.stats.get("messages", 0) == messages_before + 1,
                        "the operator's message counted in the status bar")
            app.action_next_room()  # F6: back to the simulated room, which is always listed
            assert app.chat.room_id == "#ops"
    finally:
        await alice.close()
