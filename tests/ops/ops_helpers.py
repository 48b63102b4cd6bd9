"""Helpers for the operations tests: a config on a temp dir, and a way to talk to an engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.models import ChatMessage, HandleResult


def make_config(tmp_path: Path, **sections: Any) -> Config:
    """A config whose data dir is `tmp_path`, with extra sections merged in."""
    data: dict[str, Any] = {"hololoom": {"data_dir": str(tmp_path)}}
    data.update(sections)
    return Config.model_validate(data)




def sayer(engine: Engine, room_id: str = "#ops") -> Callable[..., Any]:
    """`await say("alice", "!incident ...", ts=..., thread=...)` posts through `engine.handle`."""

    async def say(sender: str, body: str, *, ts: float | None = None, thread: str | None = None,
                  event_id: str | None = None, to_bot: bool = False) -> HandleResult:
        message = ChatMessage(room_id=room_id, sender=sender, body=body, thread_id=thread,
                              ts=ts if ts is not None else engine.clock.now(), mentions_bot=to_bot)
        if event_id is not None:
            message.event_id = event_id
        return await engine.handle(message)

    return say


def reply_text(result: HandleResult) -> str:
    """The single reply's body (fails the test when there is not exactly one)."""
    assert len(result.replies) == 1, [r.body for r in result.replies]
    return result.replies[0].body
