"""Fixtures for tests that run against a real Synapse homeserver.

Every test collected under ``tests/matrix/`` gets the ``matrix`` marker, so
``pytest -m "not matrix"`` skips them and ``pytest -m matrix`` runs only them.
A missing matrix-synapse is a test *error* with a clear message, not a skip.
"""

from __future__ import annotations

import itertools
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent

try:
    from hololoom_core.testing.synapse import MatrixUser, SynapseServer, synapse_available
except ModuleNotFoundError:  # project root not on sys.path (e.g. pytest run from elsewhere)
    sys.path.insert(0, str(_ROOT))
    from hololoom_core.testing.synapse import MatrixUser, SynapseServer, synapse_available

_MISSING_SYNAPSE = (
    "matrix-synapse is not importable by {python}: the tests under tests/matrix/ need a "
    "real homeserver. Install it (pip install matrix-synapse) or deselect them with "
    "-m 'not matrix'."
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``matrix`` marker."""
    config.addinivalue_line("markers", "matrix: needs a real Synapse homeserver (tests under tests/matrix/)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the ``matrix`` marker to every test that lives under this directory."""
    for item in items:
        path = Path(str(item.path)).resolve()
        if path == _HERE or _HERE in path.parents:
            item.add_marker(pytest.mark.matrix)


@pytest.fixture(scope="session")
def synapse_installed() -> None:
    """Fail (never skip) every test that needs Synapse when matrix-synapse is not importable."""
    if not synapse_available():
        pytest.fail(_MISSING_SYNAPSE.format(python=sys.executable), pytrace=False)


@pytest.fixture(scope="session")
def synapse(synapse_installed: None) -> Iterator[SynapseServer]:
    """A started Synapse shared by the whole session; stopped (and deleted) at the end.

    Set ``HOLOLOOM_KEEP_SYNAPSE=1`` to keep its directory (config, logs, database) afterwards.
    """
    keep = os.environ.get("HOLOLOOM_KEEP_SYNAPSE", "") not in ("", "0")
    server = SynapseServer(keep=keep)
    server.start()
    try:
        yield server
    finally:
        server.stop()


_counter = itertools.count()


@pytest.fixture
def matrix_user(synapse: SynapseServer) -> Callable[..., MatrixUser]:
    """Return a factory ``make(prefix="user", admin=False)`` that registers a unique user."""

    def make(prefix: str = "user", admin: bool = False) -> MatrixUser:
        """Register ``<prefix>-<n>-<random>`` on the session server and return it."""
        localpart = f"{prefix}-{next(_counter)}-{secrets.token_hex(3)}".lower()
        password = secrets.token_urlsafe(12)
        return synapse.create_user(localpart, password, admin=admin)

    return make
