"""Fixtures for the operations tests: a real engine on a temp SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hololoom_core.engine import Engine
from tests.ops.ops_helpers import make_config


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine with every capability, on a fresh SQLite file."""
    built = Engine(make_config(tmp_path))
    yield built
    await built.close()

