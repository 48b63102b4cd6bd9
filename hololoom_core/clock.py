"""Time sources: the real clock, and a stepping clock that makes tests and snapshots repeatable."""

from __future__ import annotations

import time


class Clock:
    """Wall time for timestamps and a monotonic counter for latency."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def perf(self) -> float:
        """A monotonic reading in seconds, for measuring durations."""
        return time.perf_counter()


class SteppingClock(Clock):
    """A deterministic clock: each reading advances by a fixed step (used by snapshot tests)."""

    def __init__(self, start: float = 1_764_072_000.0, step: float = 0.007) -> None:
        self._now = start
        self._perf = 0.0
        self.step = step

    def now(self) -> float:
        """The current fake time; advances by one step."""
        self._now += self.step
        return self._now

    def perf(self) -> float:
        """The fake monotonic counter; advances by one step."""
        self._perf += self.step
        return self._perf
