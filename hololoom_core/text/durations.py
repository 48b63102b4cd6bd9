"""Durations written the way people write them: `30s`, `15m`, `2h`, `1d`, `1h30m`, or plain seconds."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}


def parse_duration(value: str | int | float) -> float:
    """Seconds in a duration; raises ValueError with a one-line example when it is not one."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or text like 30s, 15m, 2h, 1d")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"duration {value} is negative")
        return float(value)
    text = str(value).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    position = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"'{value}' is not a duration; write it like 30s, 15m, 2h, 1d or 1h30m")
    return total


def format_duration(seconds: float) -> str:
    """A short human form of a number of seconds: `45 s`, `15 min`, `2 h 5 min`, `3 d`."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(hours / 24)} d"
