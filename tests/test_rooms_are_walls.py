"""Issue 10, rooms are walls: a person in #public cannot read #secret-hr through any read command, an answer,
a digest or a listing; `memory.shared_rooms` opens a room explicitly; the CLI (the local operator) reads all.

Real engine (memory, incidents, workflows), real SQLite; the read commands are the registry's own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hololoom_core.cli.main import main as cli_main
from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.memory.search import RecallFilters
from hololoom_core.memory.service import MemoryService
from hololoom_core.memory.vectors import VectorFilter
from hololoom_core.transport.local import LocalRoom
from tests.workflow_support import ManualClock, start_engine

SECRET_ROOM, PUBLIC = "#secret-hr", "#public"
SECRET = "zephyrine salary bands are frozen until the reorg"
# Words only the secret room's messages hold (the queries from #public name "zephyrine" and "salary bands").
MARKERS = ("reorg", "stay frozen", "letter", "bands frozen", "spreadsheet")


def _config(tmp_path: Path, **memory: Any) -> Config:
    return Config.model_validate({"hololoom": {"data_dir": str(tmp_path / "data"), "config_mode": "bare"},
                                  "workflows": {"tick_seconds": 3600}, "memory": memory})


async def _secret_history(engine: Engine) -> dict[str, Any]:
    hr = LocalRoom(engine, room_id=SECRET_ROOM)
    first = await hr.post("hanna", SECRET)
    assert first.message is not None
    await hr.post("hanna", "decision: the zephyrine salary bands stay frozen", thread_id=first.message.event_id)
    await hr.post("hanna", "Action item: @bob to send the zephyrine salary bands letter by Friday")
    await hr.post("hanna", "why are the zephyrine salary bands frozen?")
    await hr.post("hanna", '!incident declare "zephyrine salary spreadsheet exposure" sev2')
    await hr.post("hanna", "!workflow run standup-digest")
    return {"thread": first.message.event_id}


def _leaks(text: str) -> bool:
    return any(marker in text for marker in MARKERS)


async def test_no_read_command_crosses_a_room_wall(tmp_path: Path) -> None:
    engine = await start_engine(_config(tmp_path), ManualClock())
    try:
        history = await _secret_history(engine)
        public = LocalRoom(engine, room_id=PUBLIC)
        await public.post("eve", "hello everyone, what is new in payroll")
        reads = {
            "!recall zephyrine": None,
            "!recall salary bands": None,
            "!recall zephyrine room:#secret-hr": "not readable from here",
            "!standup #secret-hr": "not readable from #public",
            "!workflow run standup-digest room=#secret-hr": "not readable from #public",
            f"!summary {history['thread']}": None,
            "!actions @bob": None,
            "!actions all": None,
            "!decisions": None,
            "!questions all": None,
            "!incident list all": None,
            "!incident show INC-1": "no incident INC-1 in a room readable from #public",
            "!incident timeline INC-1": "no incident INC-1",
            "!incident postmortem INC-1": "no incident INC-1",
            "!status": None,
            "!workflow list": None,
            "!workflow status": None,
            "!workflow status 1": "No run WF-1 in a room readable from #public",
            "!handoff bob": None,
        }
        for command, refusal in reads.items():
            reply = (await public.post("eve", command)).replies[0].body
            assert not _leaks(reply), (command, reply)
            if refusal is not None:
                assert refusal in reply, (command, reply)
        for question in ("@hololoom what is zephyrine?", "@hololoom why are the salary bands frozen?"):
            result = await public.post("eve", question, to_bot=True)
            [answer_reply] = result.replies
            assert answer_reply.answer is not None and answer_reply.kind == "answer"
            assert all(source.room_id != SECRET_ROOM for source in answer_reply.answer.sources)
            assert not _leaks(answer_reply.body), answer_reply.body
        # Every reply the bot gave in #public, stored: no secret in any of them.
        said = [row["body"] for row in engine.store.query(
            "SELECT body FROM messages WHERE is_bot = 1 AND room_id = ?", (PUBLIC,))]
        assert said and not any(_leaks(body) for body in said)
        # In its own room the same commands do read it.
        hr = LocalRoom(engine, room_id=SECRET_ROOM)
        assert "reorg" in (await hr.post("hanna", "!recall zephyrine")).replies[0].body
        assert "spreadsheet" in (await hr.post("hanna", "!incident show INC-1")).replies[0].body
    finally:
        await engine.close()


async def test_shared_rooms_open_a_wall_one_way(tmp_path: Path) -> None:
    engine = await start_engine(_config(tmp_path, shared_rooms={PUBLIC: [SECRET_ROOM]}), ManualClock())
    try:
        await _secret_history(engine)
        assert "reorg" in (await LocalRoom(engine, room_id=PUBLIC).post("eve", "!recall zephyrine")).replies[0].body
        other = (await LocalRoom(engine, room_id="#other").post("eve", "!recall zephyrine")).replies[0].body
        assert not _leaks(other)
    finally:
        await engine.close()


def test_the_cli_operator_reads_every_room(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def fill() -> None:
        engine = await start_engine(_config(tmp_path), ManualClock())
        try:
            await _secret_history(engine)
        finally:
            await engine.close()

    asyncio.run(fill())
    assert cli_main(["--data-dir", str(tmp_path / "data"), "recall", "zephyrine", "--mode", "bare"]) == 0
    assert "reorg" in capsys.readouterr().out


def test_shared_rooms_names_rooms_exactly() -> None:
    with pytest.raises(ValueError, match="is not a room id"):
        Config.model_validate({"memory": {"shared_rooms": {"#ops": ["#*"]}}})


async def test_the_vector_search_is_walled_too(tmp_path: Path) -> None:
    config = Config.model_validate({"hololoom": {"data_dir": str(tmp_path / "data"), "config_mode": "fast"},
                                    "workflows": {"tick_seconds": 3600}})
    engine = await start_engine(config, ManualClock())
    try:
        await _secret_history(engine)
        await LocalRoom(engine, room_id=PUBLIC).post("eve", "lunch menu for friday is pizza")
        memory = engine.capability(MemoryService)
        assert await memory.prepare("fast") == "fast"
        await memory.embed_backlog("fast")
        vectors = memory.search_engine.vectors("fast")
        assert vectors is not None
        index, embed = vectors
        query = embed(["salary bands frozen"])[0]
        assert any(engine.messages.get(i).room_id == SECRET_ROOM  # type: ignore[union-attr]
                   for i, _ in index.search(query, 50))
        walled_ids = [i for i, _ in index.search(query, 50, VectorFilter(rooms=(PUBLIC,)))]
        assert walled_ids and all(engine.messages.get(i).room_id == PUBLIC for i in walled_ids)  # type: ignore[union-attr]
        everything = memory.recall("salary bands frozen", mode="fast")  # the operator's view
        assert any("vector" in hit.ranks and hit.message.room_id == SECRET_ROOM for hit in everything.hits)
        walled = memory.recall("salary bands frozen", mode="fast",
                               filters=RecallFilters(scope=engine.room_scope(PUBLIC)))
        assert all(hit.message.room_id == PUBLIC for hit in walled.hits)
    finally:
        await engine.close()
