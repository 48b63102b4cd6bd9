"""Helpers for app tests: an app on a real engine, and waiting for the engine with Pilot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from hololoom_core.clock import SteppingClock
from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_tui.app import HoloLoomApp, make_app


def build_app(data_dir: Path, *, stepping_clock: bool = False) -> HoloLoomApp:
    """An app on a real engine with its SQLite file in `data_dir`."""
    config = load_config(None, data_dir=data_dir, environ={})
    clock = SteppingClock() if stepping_clock else None
    return make_app(config, engine=Engine(config, clock=clock))


async def wait_for(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` holds, failing after `timeout` seconds."""
    waited = 0.0
    while not predicate():
        if waited >= timeout:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)
        waited += 0.05
