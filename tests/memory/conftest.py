"""Fixtures for the memory tests: a real engine on a SQLite file in tmp_path, in a chosen retrieval mode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from hololoom_core.clock import SteppingClock
from hololoom_core.config import Config, load_config
from hololoom_core.engine import Engine
from hololoom_core.models import HandleResult
from hololoom_core.transport.local import LocalRoom


def make_config(data_dir: Path, mode: str = "bare", **memory: object) -> Config:
    """Offline config on `data_dir` in a retrieval mode."""
    config = load_config(None, data_dir=data_dir, environ={"HOLOLOOM_CONFIG_MODE": mode})
    config.store.synchronous = "normal"
    for key, value in memory.items():
        setattr(config.memory, key, value)
    return config


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    """Build engines on the same data dir (a second one is a restart)."""
    engines: list[Engine] = []

    def build(mode: str = "bare", clock: SteppingClock | None = None, **memory: object) -> Engine:
        engine = Engine(make_config(tmp_path / "data", mode, **memory), clock=clock or SteppingClock(step=1.0))
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        try:
            engine.store.close()
        except Exception:
            pass


@pytest.fixture
async def engine(engine_factory: Callable[..., Engine]) -> AsyncIterator[Engine]:
    """A bare-mode engine, closed afterwards."""
    built = engine_factory("bare")
    yield built
    await built.close()


async def say(engine: Engine, sender: str, text: str, *, room: str = "#ops", thread: str | None = None,
              ts: float | None = None) -> HandleResult:
    """Post one message into a simulated room."""
    return await LocalRoom(engine, room_id=room).post(sender, text, thread_id=thread, ts=ts)


def stored_id(result: HandleResult) -> int:
    """The row id of the message `result` kept; fails the test when the message was not kept."""
    assert result.message is not None, "the message was not kept"
    return result.message.id
