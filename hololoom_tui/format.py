"""Small display helpers shared by the tabs: times, numbers, bars."""

from __future__ import annotations

from datetime import UTC, datetime


def clock_time(ts: float) -> str:
    """`HH:MM` in UTC, as chat timestamps show."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M")


def quality_text(value: float | None) -> str:
    """A quality score with two decimals, or an em dash before there is one."""
    return "—" if value is None else f"{value:.2f}"


def latency_text(value: float | None) -> str:
    """A latency in milliseconds with one decimal, or an em dash."""
    return "—" if value is None else f"{value:.1f} ms"


def bar(value: float, width: int = 20) -> str:
    """A horizontal bar for a value in [0, 1]."""
    filled = max(0, min(width, round(value * width)))
    return "█" * filled + "░" * (width - filled)


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
