"""Timestamps as people read them in citations and listings."""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(ts: float | None) -> str:
    """A citation timestamp such as `2026-11-25 12:03 UTC`."""
    if ts is None:
        return "unknown time"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
