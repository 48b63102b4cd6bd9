"""Progressive-validation figures: how good the forecasts made before each outcome turned out to be.

Every figure is computed over stored (prediction, outcome) pairs in the order the outcomes arrived;
each prediction was made before the model learned from its own outcome. ROC-AUC and Spearman use
average ranks (ties shared), ECE uses ten equal-width bins weighted by their counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

BINS = 10


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The area under the ROC curve (Mann-Whitney), or None without both classes."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = average_ranks(scores)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """The mean squared error of the probabilities, or None without data."""
    return float(np.mean((probabilities - labels) ** 2)) if len(labels) else None


def calibration_table(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> list[dict[str, Any]]:
    """Per equal-width bin of predicted probability: its range, count, mean prediction and observed rate."""
    table: list[dict[str, Any]] = []
    edges = np.linspace(0.0, 1.0 + 1e-8, bins + 1)  # the bins of scikit-learn's calibration_curve
    index = np.searchsorted(edges[1:-1], probabilities)
    for bin_number in range(bins):
        members = index == bin_number
        count = int(members.sum())
        table.append({
            "low": round(float(edges[bin_number]), 2),
            "high": round(float(edges[bin_number + 1]), 2),
            "n": count,
            "predicted": round(float(probabilities[members].mean()), 4) if count else None,
            "observed": round(float(labels[members].mean()), 4) if count else None,
        })
    return table


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> float | None:
    """ECE: the count-weighted mean gap between predicted and observed rates over the bins."""
    if not len(labels):
        return None
    total = 0.0
    for row in calibration_table(labels, probabilities, bins):
        if row["n"]:
            total += row["n"] * abs(row["predicted"] - row["observed"])
    return total / len(labels)


def spearman(first: np.ndarray, second: np.ndarray) -> float | None:
    """Spearman's rank correlation, or None when either side is constant or there are under three pairs."""
    if len(first) < 3:
        return None
    a, b = average_ranks(first), average_ranks(second)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


@dataclass(slots=True)
class Figures:
    """The running figures of the predictor, with what they rest on."""

    outcomes: int = 0
    judged: int = 0
    bad_rate: float | None = None
    roc_auc: float | None = None
    brier: float | None = None
    ece: float | None = None
    spearman: float | None = None
    mae: float | None = None
    calibration: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (rounded)."""
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "outcomes": self.outcomes,
            "judged": self.judged,
            "bad_rate": rounded(self.bad_rate),
            "roc_auc": rounded(self.roc_auc),
            "brier": rounded(self.brier),
            "ece": rounded(self.ece),
            "spearman": rounded(self.spearman),
            "mae": rounded(self.mae),
            "calibration": self.calibration,
        }


def compute_figures(
    probabilities: list[float], labels: list[int], predicted: list[float], judged: list[float]
) -> Figures:
    """Figures from bad-outcome pairs (probability, label) and quality pairs (predicted, judged)."""
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels, dtype=float)
    q_hat = np.asarray(predicted, dtype=float)
    q = np.asarray(judged, dtype=float)
    return Figures(
        outcomes=len(y),
        judged=len(q),
        bad_rate=float(y.mean()) if len(y) else None,
        roc_auc=roc_auc(y, p),
        brier=brier(y, p),
        ece=expected_calibration_error(y, p),
        spearman=spearman(q_hat, q),
        mae=float(np.mean(np.abs(q_hat - q))) if len(q) else None,
        calibration=calibration_table(y, p) if len(y) else [],
    )


def quality_vs_expensive_share(
    difficulty: list[float], cheap_quality: list[float], expensive_quality: list[float], share: float
) -> tuple[float, float]:
    """Mean quality when the hardest `share` of questions take the expensive path, and the always-expensive mean."""
    order = np.argsort(-np.asarray(difficulty, dtype=float), kind="mergesort")
    take = int(round(share * len(order)))
    chosen = np.asarray(cheap_quality, dtype=float).copy()
    expensive = np.asarray(expensive_quality, dtype=float)
    chosen[order[:take]] = expensive[order[:take]]
    return float(chosen.mean()), float(expensive.mean())


def apgr(difficulty: list[float], cheap_quality: list[float], expensive_quality: list[float], steps: int = 20) -> float | None:
    """RouteLLM's APGR: the mean over expensive shares 0..1 of (quality - cheap) / (expensive - cheap)."""
    cheap_mean = float(np.mean(cheap_quality))
    expensive_mean = float(np.mean(expensive_quality))
    if expensive_mean - cheap_mean <= 1e-9:
        return None
    gains = []
    for step in range(steps + 1):
        reached, _ = quality_vs_expensive_share(difficulty, cheap_quality, expensive_quality, step / steps)
        gains.append((reached - cheap_mean) / (expensive_mean - cheap_mean))
    return float(np.trapezoid(gains, dx=1.0 / steps))
