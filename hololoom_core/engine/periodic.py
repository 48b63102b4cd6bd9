"""Periodic background work of a running engine (the workflow scheduler's tick, marketplace auto-update)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

log = logging.getLogger(__name__)


async def run_every(engine: Engine, interval_s: float, work: Callable[[], Awaitable[object]], *, where: str,
                    what: str, wait_first: bool) -> None:
    """Run `work` every `interval_s` seconds until cancelled (first at once, or after one interval).

    A failure is logged with its traceback and reported as an engine error from `where` ("what: error");
    the loop goes on.
    """
    if wait_first:
        await asyncio.sleep(interval_s)
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # periodic work must keep going
            log.exception("%s %s failed", where, what)
            engine.report_error(where, f"{what}: {type(exc).__name__}: {exc}")
        await asyncio.sleep(interval_s)
