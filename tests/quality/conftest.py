"""Fixtures for the predictive-quality tests: an engine on a real SQLite file with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hololoom_core.clock import Clock
from hololoom_core.config import Config
from hololoom_core.engine import Engine


class MovableClock(Clock):
    """Wall time the test sets; the monotonic counter stays real."""

    def __init__(self, start: float = 1_764_072_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


def quality_config(tmp_path: Path, **sections: Any) -> Config:
    """Offline defaults in tmp_path, with the given sections laid over them."""
    return Config.model_validate({"hololoom": {"data_dir": str(tmp_path), "config_mode": "bare"}, **sections})


@pytest.fixture
def clock() -> MovableClock:
    """A clock the test moves forward."""
    return MovableClock()


@pytest.fixture
def make_engine(tmp_path: Path, clock: MovableClock) -> Callable[..., Engine]:
    """Build (not start) an engine on tmp_path with optional config sections."""
    def build(**sections: Any) -> Engine:
        return Engine(quality_config(tmp_path, **sections), clock=clock)
    return build


@pytest.fixture
async def engine(make_engine: Callable[..., Engine]) -> AsyncIterator[Engine]:
    """A started engine with the default capabilities."""
    built = make_engine()
    await built.start()
    yield built
    await built.close()
