"""The sync loop that loses nothing: resume from the stored token, back off on errors, honour 429.

Each response is prepared (network), applied with its token in one transaction (store), and only then
are commands and questions dispatched. The very first run (no token) records rooms and members but does
not answer old history.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from nio import SyncResponse

from hololoom_core.transport.matrix.batch import AppliedBatch, BatchProcessor
from hololoom_core.transport.matrix.session import MatrixLoginError
from hololoom_core.transport.matrix.state import MatrixState

if TYPE_CHECKING:
    from nio import AsyncClient

    from hololoom_core.engine.pipeline import Engine

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 5.0
FATAL_SYNC_ERRORS = frozenset({"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_FORBIDDEN", "M_USER_DEACTIVATED"})


class Backoff:
    """Exponential backoff with jitter: `initial · 2^n`, capped, each wait drawn from [half, full] of that."""

    def __init__(self, initial: float, cap: float, rng: Callable[[], float] = random.random) -> None:
        self.initial = initial
        self.cap = cap
        self.rng = rng
        self.failures = 0

    def delay_for(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1-based), with jitter."""
        ceiling = min(self.cap, self.initial * 2 ** max(0, min(attempt - 1, 30)))
        return ceiling * (0.5 + 0.5 * self.rng())

    def next(self) -> float:
        """Count one more failure and return how long to wait."""
        self.failures += 1
        return self.delay_for(self.failures)

    def reset(self) -> None:
        """A success: start again from the initial wait."""
        self.failures = 0


def sync_filter(bot_user_id: str, timeline_limit: int = 50) -> dict[str, Any]:
    """The sync filter: no presence, no ephemeral noise, and none of the bot's own timeline events."""
    return {
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {
            "timeline": {"not_senders": [bot_user_id], "limit": timeline_limit},
            "ephemeral": {"not_types": ["*"]},
            "account_data": {"not_types": ["*"]},
        },
    }


BatchHook = Callable[[SyncResponse, AppliedBatch], Awaitable[None]]
StatusHook = Callable[[str, str], None]


class SyncLoop:
    """Long-polls `/sync` until stopped; stores each batch before its token; reports state changes."""

    def __init__(
        self,
        engine: Engine,
        state: MatrixState,
        client: AsyncClient,
        processor: BatchProcessor,
        *,
        on_batch: BatchHook,
        on_status: StatusHook,
        after_sync: Callable[[], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self.state = state
        self.client = client
        self.processor = processor
        self.on_batch = on_batch
        self.on_status = on_status
        self.after_sync = after_sync
        config = engine.config.matrix
        self.timeout_ms = config.sync_timeout_ms
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self.filter_id: str | dict[str, Any] | None = None
        self.syncs = 0
        self.last_sync_ts: float | None = None
        self.last_error: str | None = None
        self.first_sync_done = asyncio.Event()
        self._stopping = False
        self._last_status: float | None = None

    def stop(self) -> None:
        """Finish after the current request."""
        self._stopping = True

    async def upload_filter(self) -> None:
        """Upload the sync filter once (falls back to sending it inline when the upload fails)."""
        definition = sync_filter(self.client.user_id)
        try:
            response = await self.client.upload_filter(
                presence=definition["presence"], account_data=definition["account_data"], room=definition["room"],
            )
            self.filter_id = getattr(response, "filter_id", None) or definition
        except Exception as exc:  # connection trouble: the inline filter works as well
            log.info("filter upload failed (%s); sending the filter inline", exc)
            self.filter_id = definition

    async def run(self) -> None:
        """Sync until `stop()`; fatal login problems raise `MatrixLoginError`."""
        if self.filter_id is None:
            await self.upload_filter()
        full_state = True
        while not self._stopping:
            token = self.state.sync_token()
            first_run = token is None
            try:
                response = await self.client.sync(
                    timeout=0 if first_run or full_state else self.timeout_ms,
                    sync_filter=self.filter_id,
                    since=token,
                    full_state=full_state or None,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused, reset, timeouts
                await self.failed(f"{type(exc).__name__}: {exc or 'no answer'}")
                continue
            if not isinstance(response, SyncResponse):
                status = getattr(response, "status_code", None)
                if status in FATAL_SYNC_ERRORS:
                    raise MatrixLoginError(
                        f"{self.client.homeserver}: the homeserver refused the bot's login ({response}); "
                        "log in again (check matrix.access_token / matrix.password)"
                    )
                retry_after = getattr(response, "retry_after_ms", None)
                if status == "M_LIMIT_EXCEEDED" or retry_after:
                    wait = (retry_after or 1000) / 1000
                    self.on_status("reconnecting", f"rate limited by the homeserver; waiting {wait:.1f} s")
                    await asyncio.sleep(wait)
                    continue
                await self.failed(str(response))
                continue
            log.debug("sync returned %s", response.next_batch)
            try:
                prepared = await self.processor.prepare(response, first_run=first_run)
                log.debug("prepared %d events", len(prepared))
                if first_run:
                    self.state.put("history_floor", repr(self.engine.clock.now()))
                applied = self.processor.apply(prepared, response, response.next_batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a network failure while back-filling or downloading: retry the batch
                log.exception("sync batch failed")
                await self.failed(f"batch not stored ({type(exc).__name__}: {exc}); retrying from the same token")
                continue
            full_state = False
            self.syncs += 1
            self.last_sync_ts = self.engine.clock.now()
            if self.backoff.failures or not self.first_sync_done.is_set():
                self.on_status("connected", "")
                self._last_status = self.last_sync_ts
            elif self._last_status is None or self.last_sync_ts - self._last_status >= STATUS_INTERVAL_S:
                self.on_status("connected", "")  # refreshes the last sync time shown to the operator
                self._last_status = self.last_sync_ts
            self.backoff.reset()
            self.first_sync_done.set()
            log.debug("stored batch: %d messages, %d changes, %d kept", applied.stored, applied.changes,
                      len(applied.kept))
            try:
                await self.on_batch(response, applied)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the batch is stored (and resumes after a restart); keep syncing
                log.exception("dispatching a stored batch failed")
                self.engine.report_error("matrix", f"dispatching a stored batch failed ({type(exc).__name__}: {exc})")
            try:
                await self.after_sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # key upload/query trouble must not stop the sync
                log.warning("post-sync key maintenance failed: %s", exc)

    async def failed(self, error: str) -> None:
        """Report a failed sync and wait out the backoff."""
        wait = self.backoff.next()
        self.last_error = error
        self.on_status("reconnecting", f"{error}; retry {self.backoff.failures} in {wait:.1f} s")
        log.warning("sync failed: %s; retrying in %.1f s", error, wait)
        await asyncio.sleep(wait)
