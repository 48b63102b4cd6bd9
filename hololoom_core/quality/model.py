"""The online quality model: a prior built from the features, river models that learn from every outcome, calibration.

Predicted quality = the prior's quality + a river linear regression of the residual (it starts at zero,
so a fresh install predicts the prior and already ranks grounded questions above ungrounded ones).
The bad-outcome probability (`retry_probability`) is a river logistic regression whose score is
calibrated by online Platt scaling (river has no calibration of its own: refit on a sliding window
of raw scores and labels), blended with the prior's probability while few outcomes are known.
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from river import linear_model, optim

MODEL_VERSION = 1
PRIOR_WEIGHT_OUTCOMES = 20.0  # the prior's weight fades as 20 / (20 + outcomes learned)
CALIBRATION_WINDOW = 600
CALIBRATION_REFIT_EVERY = 20
A_LIMIT = 10.0
LOGISTIC_LR = 0.3
ISOTONIC_MIN = 200
B_LIMIT = 10.0


def clip(value: float, low: float = 0.0, high: float = 1.0) -> float:
    """`value` limited to [low, high]."""
    return min(high, max(low, value))


def sigmoid(value: float) -> float:
    """The logistic function, safe for large magnitudes."""
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


def logit(probability: float) -> float:
    """The log-odds of a probability (clipped away from 0 and 1)."""
    probability = clip(probability, 1e-4, 1 - 1e-4)
    return math.log(probability / (1 - probability))


def prior_quality(features: dict[str, float]) -> float:
    """The cold-start quality: grounding signals (runbook match, earlier messages) up, unknown words and re-asks down."""
    score = (
        0.55
        + 0.40 * features.get("runbook_strength", 0.0)
        + 0.12 * features.get("bm25_max", 0.0)
        + 0.04 * features.get("bm25_hits", 0.0)
        - 0.12 * features.get("unknown_share", 0.0)
        - 0.06 * features.get("reask", 0.0)
        + 0.20 * (features.get("agent_prior", 0.75) - 0.75)
    )
    return clip(score, 0.05, 0.98)


def prior_bad_probability(quality: float, threshold: float) -> float:
    """The cold-start probability of a bad outcome: high when the prior quality is under the threshold."""
    return sigmoid(12.0 * (threshold - quality) - 0.5)


@dataclass(slots=True)
class PlattCalibrator:
    """Online Platt scaling: p = sigmoid(a * score + b), refit by Newton's method on a sliding window."""

    a: float = 1.0
    b: float = 0.0
    window: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=CALIBRATION_WINDOW))
    since_fit: int = 0

    def probability(self, score: float) -> float:
        """The calibrated probability of a raw score (a log-odds)."""
        return sigmoid(self.a * score + self.b)

    def learn(self, score: float, label: int) -> None:
        """Remember one (score, label) pair; refit every `CALIBRATION_REFIT_EVERY` pairs."""
        self.window.append((score, label))
        self.since_fit += 1
        if self.since_fit >= CALIBRATION_REFIT_EVERY:
            self.fit()

    def fit(self) -> None:
        """Refit a and b on the window (Platt's smoothed targets, a few Newton steps, small ridge)."""
        self.since_fit = 0
        if len(self.window) < 20:
            return
        scores = np.array([pair[0] for pair in self.window])
        labels = np.array([pair[1] for pair in self.window], dtype=float)
        positives, negatives = labels.sum(), len(labels) - labels.sum()
        targets = np.where(labels > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))
        ridge = 1.0  # pulls a toward 1 and b toward 0: a small window must not make the scaling extreme

        def loss(a: float, b: float) -> float:
            z = np.clip(a * scores + b, -30, 30)
            return float(np.sum(np.logaddexp(0, z) - targets * z) + 0.5 * ridge * ((a - 1) ** 2 + b ** 2))

        a, b = self.a, self.b
        current = loss(a, b)
        for _ in range(30):
            p = 1 / (1 + np.exp(-np.clip(a * scores + b, -30, 30)))
            weight = p * (1 - p) + 1e-9
            gradient = np.array([np.sum((p - targets) * scores) + ridge * (a - 1), np.sum(p - targets) + ridge * b])
            hessian = np.array([
                [np.sum(weight * scores * scores) + ridge, np.sum(weight * scores)],
                [np.sum(weight * scores), np.sum(weight) + ridge],
            ])
            try:
                step = np.linalg.solve(hessian, gradient)
            except np.linalg.LinAlgError:
                break
            scale = 1.0
            while scale > 1e-4:  # backtracking: take the largest step that lowers the loss
                trial_a, trial_b = a - scale * float(step[0]), b - scale * float(step[1])
                trial = loss(trial_a, trial_b)
                if trial <= current:
                    break
                scale /= 2
            else:
                break
            converged = current - trial < 1e-9
            a, b, current = trial_a, trial_b, trial
            if converged:
                break
        self.a = min(A_LIMIT, max(-A_LIMIT, a))
        self.b = min(B_LIMIT, max(-B_LIMIT, b))


def pool_adjacent_violators(labels: np.ndarray) -> np.ndarray:
    """The non-decreasing fit (least squares) of `labels` taken in order: the isotonic regression by PAV."""
    values: list[float] = []
    weights: list[float] = []
    for label in labels:
        values.append(float(label))
        weights.append(1.0)
        while len(values) > 1 and values[-2] > values[-1]:
            weight = weights[-2] + weights[-1]
            value = (values[-2] * weights[-2] + values[-1] * weights[-1]) / weight
            values[-2:] = [value]
            weights[-2:] = [weight]
    return np.repeat(values, np.asarray(weights, dtype=int))


@dataclass(slots=True)
class IsotonicCalibrator:
    """Isotonic calibration of the Platt-scaled probability on a sliding window (used once the window is full enough).

    Platt scaling fixes the slope and offset of the scores; the isotonic step fixes any remaining
    monotone distortion. Fitted points are smoothed with one pseudo-observation at 0.5 per block.
    """

    window: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=CALIBRATION_WINDOW))
    xs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ys: np.ndarray = field(default_factory=lambda: np.zeros(0))
    since_fit: int = 0

    def ready(self) -> bool:
        """Whether enough pairs were seen to trust the isotonic map."""
        return len(self.xs) > 1 and len(self.window) >= ISOTONIC_MIN

    def probability(self, probability: float) -> float:
        """The isotonic map of a (Platt) probability, interpolated between fitted points."""
        return float(np.interp(probability, self.xs, self.ys))

    def learn(self, probability: float, label: int) -> None:
        """Remember one pair; refit every `CALIBRATION_REFIT_EVERY` pairs."""
        self.window.append((probability, label))
        self.since_fit += 1
        if self.since_fit >= CALIBRATION_REFIT_EVERY:
            self.fit()

    def fit(self) -> None:
        """Refit on the window: sort by probability, pool adjacent violators, keep one point per distinct block."""
        self.since_fit = 0
        if len(self.window) < ISOTONIC_MIN:
            return
        pairs = sorted(self.window)
        scores = np.array([pair[0] for pair in pairs])
        fitted = pool_adjacent_violators(np.array([pair[1] for pair in pairs], dtype=float))
        xs: list[float] = []
        ys: list[float] = []
        start = 0
        for end in range(1, len(fitted) + 1):
            if end == len(fitted) or fitted[end] != fitted[start]:
                count = end - start
                xs.append(float(scores[start:end].mean()))
                ys.append(float((fitted[start] * count + 0.5) / (count + 1)))
                start = end
        self.xs, self.ys = np.asarray(xs), np.asarray(ys)


@dataclass(slots=True)
class Prediction:
    """What the model says about one question before it is answered."""

    quality: float
    retry_probability: float
    difficulty: float
    prior_quality: float
    raw_score: float


class QualityModel:
    """The online model: prior, residual regression for quality, calibrated logistic regression for a bad outcome."""

    def __init__(self, bad_quality_below: float) -> None:
        self.bad_quality_below = bad_quality_below
        self.quality_residual = linear_model.LinearRegression(optimizer=optim.SGD(0.03), intercept_lr=0.03)
        self.bad_outcome = linear_model.LogisticRegression(optimizer=optim.SGD(LOGISTIC_LR), intercept_lr=LOGISTIC_LR)
        self.calibrator = PlattCalibrator()
        self.isotonic = IsotonicCalibrator()
        self.quality_outcomes = 0
        self.bad_outcomes = 0

    @staticmethod
    def _inputs(features: dict[str, float], prior: float, threshold: float) -> dict[str, float]:
        inputs = dict(features)
        inputs["prior_shortfall"] = threshold - prior
        return inputs

    def predict(self, features: dict[str, float]) -> Prediction:
        """Quality, bad-outcome probability and difficulty for these features."""
        prior = prior_quality(features)
        inputs = self._inputs(features, prior, self.bad_quality_below)
        quality = clip(prior + self.quality_residual.predict_one(inputs))
        prior_bad = prior_bad_probability(prior, self.bad_quality_below)
        raw_score = logit(self.bad_outcome.predict_proba_one(inputs).get(True, 0.5))
        learned = self.calibrator.probability(raw_score)
        if self.isotonic.ready():
            learned = self.isotonic.probability(learned)
        weight = self.bad_outcomes / (self.bad_outcomes + PRIOR_WEIGHT_OUTCOMES)
        retry = clip((1 - weight) * prior_bad + weight * learned)
        difficulty = clip(0.5 * (1 - quality) + 0.5 * retry)
        return Prediction(quality, retry, difficulty, prior, raw_score)

    def learn_quality(self, features: dict[str, float], judged: float) -> None:
        """Learn from a judged quality (the residual over the prior)."""
        prior = prior_quality(features)
        self.quality_residual.learn_one(self._inputs(features, prior, self.bad_quality_below), judged - prior)
        self.quality_outcomes += 1

    def learn_outcome(self, features: dict[str, float], bad: bool, raw_score: float | None = None) -> None:
        """Learn whether the outcome was bad; `raw_score` is the score predicted before (for calibration)."""
        prior = prior_quality(features)
        inputs = self._inputs(features, prior, self.bad_quality_below)
        if raw_score is None:
            raw_score = logit(self.bad_outcome.predict_proba_one(inputs).get(True, 0.5))
        self.isotonic.learn(self.calibrator.probability(raw_score), int(bad))
        self.calibrator.learn(raw_score, int(bad))
        self.bad_outcome.learn_one(inputs, bad)
        self.bad_outcomes += 1

    def describe(self) -> dict[str, Any]:
        """Version and how many outcomes the model has learned from."""
        return {
            "name": "river linear (residual over prior) + logistic with online Platt calibration",
            "version": MODEL_VERSION,
            "outcomes": self.bad_outcomes,
            "judged": self.quality_outcomes,
            "prior_weight": round(PRIOR_WEIGHT_OUTCOMES / (self.bad_outcomes + PRIOR_WEIGHT_OUTCOMES), 4),
        }

    # -- persistence ---------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the model state to `path` atomically (a versioned pickle)."""
        state = {"version": MODEL_VERSION, "threshold": self.bad_quality_below, "model": self}
        temporary = path.with_suffix(".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(pickle.dumps(state))
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path, bad_quality_below: float) -> QualityModel | None:
        """The model saved at `path`, or None when there is none, it is of another version or threshold, or broken."""
        if not path.exists():
            return None
        try:
            state = pickle.loads(path.read_bytes())  # the data dir's own file, written by `save`
        except Exception:
            return None
        if not isinstance(state, dict) or state.get("version") != MODEL_VERSION:
            return None
        model = state.get("model")
        if not isinstance(model, cls) or state.get("threshold") != bad_quality_below:
            return None
        return model
