"""Shared fixtures: a config and an engine on a real SQLite file in a temp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hololoom_core.config import Config, load_config
from hololoom_core.engine import Engine


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Offline defaults with the data dir in tmp_path (no environment leaks in)."""
    return load_config(None, data_dir=tmp_path / "data", environ={})


@pytest.fixture
async def engine(config: Config) -> AsyncIterator[Engine]:
    """A started engine on a fresh SQLite file."""
    engine = Engine(config)
    await engine.start()
    yield engine
    await engine.close()
