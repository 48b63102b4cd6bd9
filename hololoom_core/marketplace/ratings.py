"""Ratings (1-5 stars with a comment) and their order: the Wilson lower bound of the share of good ratings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GOOD_STARS = 4  # a rating of 4 or 5 stars counts as a positive vote for the Wilson bound
Z_95 = 1.959964


def wilson_lower_bound(positive: int, total: int, z: float = Z_95) -> float:
    """The lower end of the 95% Wilson score interval for `positive / total` (0 with no ratings)."""
    if total <= 0:
        return 0.0
    phat = positive / total
    denominator = 1 + z * z / total
    centre = phat + z * z / (2 * total)
    margin = z * math.sqrt((phat * (1 - phat) + z * z / (4 * total)) / total)
    return max(0.0, (centre - margin) / denominator)


@dataclass(slots=True)
class RatingSummary:
    """The ratings of one package: how many, the mean, the Wilson lower bound, and the comments (newest first)."""

    count: int = 0
    mean: float | None = None
    wilson: float = 0.0
    comments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """`4.3★ (n=12)` or `unrated`."""
        return f"{self.mean:.1f}★ (n={self.count})" if self.mean is not None else "unrated"


def summarise(records: list[dict[str, Any]]) -> RatingSummary:
    """Summarise rating records (`stars` 1-5, optional `comment`, `user`, `ts`); malformed ones are skipped."""
    stars: list[int] = []
    comments: list[dict[str, Any]] = []
    for record in records:
        value = record.get("stars")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            continue
        stars.append(value)
        if str(record.get("comment") or "").strip():
            comments.append({"stars": value, "comment": str(record["comment"])[:500],
                             "user": str(record.get("user", "")), "ts": record.get("ts")})
    if not stars:
        return RatingSummary()
    positive = sum(1 for value in stars if value >= GOOD_STARS)
    comments.sort(key=lambda item: float(item.get("ts") or 0), reverse=True)
    return RatingSummary(len(stars), sum(stars) / len(stars), wilson_lower_bound(positive, len(stars)), comments)
