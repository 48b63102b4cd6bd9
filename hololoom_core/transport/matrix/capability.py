"""The Matrix capability: the transport's tables and its `hololoom doctor` checks.

The transport itself (`MatrixTransport`) is started by `hololoom bot` or the app and provides itself
to the engine (`engine.capability(MatrixTransport)`); this capability only makes its tables exist
before any transport starts, and lists the checks the doctor runs.
"""

from __future__ import annotations

from typing import Any, Protocol

from hololoom_core.engine.capabilities import Capability
from hololoom_core.store.db import registered_migrations
from hololoom_core.transport.matrix.checks import MATRIX_CHECKS
from hololoom_core.transport.matrix.state import MatrixState


class MatrixCapability(Capability):
    """Matrix's sync state, rooms, outbox and reactions tables, and its homeserver / login / OCR checks."""

    name = "matrix"
    migrations = {"matrix": registered_migrations("matrix")}
    doctor_checks = MATRIX_CHECKS


class MatrixBot(Protocol):
    """What the app asks of a running Matrix transport; `MatrixTransport` provides itself under this type.

    It lives here, away from matrix-nio, so the app can look the transport up without importing it.
    """

    state: MatrixState

    async def send_as_bot(self, room_id: str, text: str) -> Any:
        """Store a message from the bot in a Matrix room; the outbox sends it."""
        ...

    def stop(self) -> None:
        """Stop syncing; unfinished work resumes on the next start."""
        ...

    async def run(self) -> None:
        """Sync and act until stopped."""
        ...
