"""`!market` in chat: confirmation before install, permission, installed workflows run at once, auto-update."""

from __future__ import annotations

from pathlib import Path

from hololoom_core.engine import Engine
from hololoom_core.marketplace.capability import MarketplaceRuntime
from hololoom_core.marketplace.events import MarketplaceChanged
from hololoom_core.marketplace.publish import publish
from hololoom_core.models import ChatMessage
from tests.marketplace.support import make_config, make_key, package_folder, trusted


async def say(engine: Engine, sender: str, body: str) -> str:
    """Send one chat message and return the bot's reply text."""
    result = await engine.handle(ChatMessage(room_id="#ops", sender=sender, body=body, sender_name=sender))
    return "\n".join(reply.body for reply in result.replies)


async def test_install_confirm_run_rollback_in_chat(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", "team")
    reg = tmp_path / "reg"
    publish(package_folder(tmp_path / "src", "chat-kit", "1.0.0"), reg, key)
    config = make_config(tmp_path / "data", [{"name": "team", "url": str(reg)}], trusted(key), admins=["ana"])
    engine = Engine(config)
    await engine.start()
    events: list[MarketplaceChanged] = []
    engine.bus.subscribe(lambda event: events.append(event) if isinstance(event, MarketplaceChanged) else None)
    try:
        assert "chat-kit" in await say(engine, "bob", "!market search chat")
        refused = await say(engine, "bob", "!market install chat-kit")
        assert "needs the `marketplace` permission" in refused
        preview = await say(engine, "ana", "!market install chat-kit@>=1,<2")
        assert "chat commands: `!chat-kit-go`" in preview and "`!market confirm`" in preview
        assert engine.commands.get("chat-kit-go") is None  # nothing installed before the confirmation
        assert "✅ install: chat-kit 1.0.0" in await say(engine, "ana", "!market confirm")
        assert "chat-kit-flow 1.0.0 says hello to bob" in await say(engine, "bob", "!chat-kit-go")
        assert "package `chat-kit`" in await say(engine, "bob", "!workflow list")

        publish(package_folder(tmp_path / "src", "chat-kit", "1.1.0"), reg, key)
        assert "update 1.0.0 → chat-kit 1.1.0" in await say(engine, "ana", "!market update chat-kit")
        assert "✅ update: chat-kit 1.1.0" in await say(engine, "ana", "!market confirm")
        assert "chat-kit-flow 1.1.0 says hello" in await say(engine, "bob", "!chat-kit-go")
        assert "rolled back from 1.1.0 to 1.0.0" in await say(engine, "ana", "!market rollback chat-kit")
        assert "chat-kit-flow 1.0.0 says hello" in await say(engine, "bob", "!chat-kit-go")
        assert "Rated chat-kit 5★" in await say(engine, "bob", "!market rate chat-kit 5 works well")
        assert "5.0★ from 1 rating" in await say(engine, "bob", "!market show chat-kit")
        assert "removed" in await say(engine, "ana", "!market remove chat-kit")
        assert engine.commands.get("chat-kit-go") is None
        assert [(e.action, e.package, e.version) for e in events] == [
            ("install", "chat-kit", "1.0.0"), ("update", "chat-kit", "1.1.0"), ("rollback", "chat-kit", "1.0.0"),
            ("remove", "chat-kit", "")]
    finally:
        await engine.close()


async def test_auto_update_stays_in_range_and_announces(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", "team")
    reg = tmp_path / "reg"
    publish(package_folder(tmp_path / "src", "auto-kit", "1.0.0"), reg, key)
    config = make_config(tmp_path / "data", [{"name": "team", "url": str(reg)}], trusted(key), admins=["ana"])
    engine = Engine(config)
    await engine.start()
    events: list[MarketplaceChanged] = []
    engine.bus.subscribe(lambda event: events.append(event) if isinstance(event, MarketplaceChanged) else None)
    try:
        await say(engine, "ana", "!market install auto-kit@~=1.0 --auto-update")
        await say(engine, "ana", "!market confirm")
        runtime = engine.capability(MarketplaceRuntime)
        publish(package_folder(tmp_path / "src", "auto-kit", "1.1.0"), reg, key)
        publish(package_folder(tmp_path / "src", "auto-kit", "2.0.0"), reg, key)
        bad = package_folder(tmp_path / "src", "auto-kit", "1.2.0", files={
            "workflows/auto-kit.yaml": "name: auto-kit-flow\nsteps:\n  - shell: rm -rf /\n"})
        assert await runtime.auto_update() == ["auto-kit 1.1.0"]
        assert "auto-kit-flow 1.1.0 says hello" in await say(engine, "bob", "!auto-kit-go")
        publish(bad, reg, key)  # newest in range, but its shell step is not allowed here
        assert await runtime.auto_update() == []
        assert runtime.marketplace.installed()["auto-kit"]["version"] == "1.1.0"
        rows = engine.store.query("SELECT body FROM messages WHERE is_bot = 1 AND body LIKE '%auto-update%'")
        assert [row["body"] for row in rows] == [
            "⬆️ Marketplace auto-update: **auto-kit** 1.0.0 → 1.1.0 (validated and dry-run first; "
            "`market rollback auto-kit` goes back)."]
        assert ("auto_update", "auto-kit", "1.1.0") in [(e.action, e.package, e.version) for e in events]
    finally:
        await engine.close()


async def test_update_all_asks_once_for_every_package(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", "team")
    reg = tmp_path / "reg"
    for name in ("one-kit", "two-kit", "still-kit"):
        publish(package_folder(tmp_path / "src", name, "1.0.0"), reg, key)
    config = make_config(tmp_path / "data", [{"name": "team", "url": str(reg)}], trusted(key), admins=["ana"])
    engine = Engine(config)
    await engine.start()
    try:
        for name in ("one-kit", "two-kit", "still-kit"):
            await say(engine, "ana", f"!market install {name}")
            await say(engine, "ana", "!market confirm")
        publish(package_folder(tmp_path / "src", "one-kit", "1.1.0"), reg, key)
        publish(package_folder(tmp_path / "src", "two-kit", "1.0.1"), reg, key)
        asked = await say(engine, "ana", "!market update --all")
        assert "still-kit: up to date within its range" in asked
        assert "update 1.0.0 → one-kit 1.1.0" in asked and "update 1.0.0 → two-kit 1.0.1" in asked
        assert "cancelled" in (await say(engine, "ana", "!market cancel")).lower()
        assert engine.capability(MarketplaceRuntime).marketplace.installed()["one-kit"]["version"] == "1.0.0"
        await say(engine, "ana", "!market update --all")
        done = await say(engine, "ana", "!market confirm")
        assert "one-kit 1.1.0" in done and "two-kit 1.0.1" in done
        versions = {name: entry["version"] for name, entry in
                    engine.capability(MarketplaceRuntime).marketplace.installed().items()}
        assert versions == {"one-kit": "1.1.0", "two-kit": "1.0.1", "still-kit": "1.0.0"}
    finally:
        await engine.close()
