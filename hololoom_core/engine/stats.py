"""Live counters: messages, answers, mean quality and p50 latency, seeded from the store at start."""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any


def percentile(values: list[float], fraction: float) -> float | None:
    """The value at `fraction` (0..1) of the sorted values, nearest-rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class EngineStats:
    """Counters the status bar and dashboards show; every figure is measured, none typed in."""

    def __init__(self, window: int = 1000) -> None:
        self.messages = 0
        self.answers = 0
        self.commands = 0
        self.insights = 0
        self._quality_sum = 0.0
        self._latencies: deque[float] = deque(maxlen=window)

    def seed(self, messages: int, answers: int, mean_quality: float | None, latencies: list[float]) -> None:
        """Start from what the store already holds."""
        self.messages = messages
        self.answers = answers
        self._quality_sum = (mean_quality or 0.0) * answers
        self._latencies.extend(latencies)

    def add_answer(self, quality: float, latency_ms: float) -> None:
        """Count one answer."""
        self.answers += 1
        self._quality_sum += quality
        self._latencies.append(latency_ms)

    @property
    def mean_quality(self) -> float | None:
        """Mean judge score over every answer, or None before the first."""
        return self._quality_sum / self.answers if self.answers else None

    @property
    def p50_latency_ms(self) -> float | None:
        """Median answer latency over the recent window."""
        return statistics.median(self._latencies) if self._latencies else None

    def as_dict(self) -> dict[str, Any]:
        """A snapshot for events and JSON."""
        return {
            "messages": self.messages,
            "answers": self.answers,
            "commands": self.commands,
            "insights": self.insights,
            "mean_quality": self.mean_quality,
            "p50_latency_ms": self.p50_latency_ms,
        }
