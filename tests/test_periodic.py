"""Periodic engine work: runs at its interval, survives a failing round (reported once per failure), stops on cancel."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_core.engine.periodic import run_every
from hololoom_core.events import EngineError


async def test_a_failing_round_is_reported_and_the_loop_goes_on(tmp_path: Path) -> None:
    engine = Engine(load_config(None, data_dir=tmp_path, environ={}))
    errors: list[EngineError] = []
    engine.bus.subscribe(lambda event: errors.append(event) if isinstance(event, EngineError) else None)
    rounds: list[int] = []

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise RuntimeError("registry unreachable")

    task = asyncio.create_task(run_every(engine, 0.01, work, where="marketplace", what="auto-update", wait_first=False))
    while len(rounds) < 4:
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert [(e.where, e.error) for e in errors] == [
        ("marketplace", "auto-update: RuntimeError: registry unreachable")]
    await engine.close()


async def test_wait_first_waits_one_interval_before_the_first_round(tmp_path: Path) -> None:
    engine = Engine(load_config(None, data_dir=tmp_path, environ={}))
    rounds: list[float] = []

    async def work() -> None:
        rounds.append(asyncio.get_running_loop().time())

    started = asyncio.get_running_loop().time()
    task = asyncio.create_task(run_every(engine, 0.2, work, where="workflows", what="scheduler", wait_first=True))
    await asyncio.sleep(0.1)
    assert rounds == []
    while not rounds:
        await asyncio.sleep(0.02)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert rounds[0] - started >= 0.2
    await engine.close()
