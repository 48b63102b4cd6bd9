"""The progressive-validation figures agree with scikit-learn and SciPy on the same data."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from hololoom_core.quality.metrics import (
    apgr,
    compute_figures,
    expected_calibration_error,
    quality_vs_expensive_share,
    roc_auc,
)
from hololoom_core.quality.model import PlattCalibrator, sigmoid


def sample(n: int, seed: int) -> tuple[list[float], list[int], list[float], list[float]]:
    rng = random.Random(seed)
    probabilities = [round(rng.random(), 2) for _ in range(n)]  # rounded: ties must be handled too
    labels = [1 if rng.random() < p else 0 for p in probabilities]
    judged = [rng.random() for _ in range(n)]
    predicted = [q + rng.gauss(0, 0.2) for q in judged]
    return probabilities, labels, predicted, judged


def test_figures_match_sklearn_and_scipy() -> None:
    probabilities, labels, predicted, judged = sample(500, 3)
    figures = compute_figures(probabilities, labels, predicted, judged)
    assert figures.roc_auc == pytest.approx(roc_auc_score(labels, probabilities))
    assert figures.brier == pytest.approx(brier_score_loss(labels, probabilities))
    assert figures.spearman == pytest.approx(spearmanr(predicted, judged).statistic)
    assert figures.mae == pytest.approx(float(np.mean(np.abs(np.subtract(predicted, judged)))))
    observed, mean_predicted = calibration_curve(labels, probabilities, n_bins=10, strategy="uniform")
    table = [row for row in figures.calibration if row["n"]]
    assert [row["observed"] for row in table] == pytest.approx(list(observed), abs=1e-4)
    assert [row["predicted"] for row in table] == pytest.approx(list(mean_predicted), abs=1e-4)
    counts = np.array([row["n"] for row in table])
    by_hand = float(np.sum(counts * np.abs(observed - mean_predicted)) / counts.sum())
    assert figures.ece == pytest.approx(by_hand, abs=1e-3)


def test_figures_say_when_they_cannot_be_computed() -> None:
    figures = compute_figures([0.2, 0.3], [1, 1], [0.5, 0.5], [0.4, 0.9])
    assert figures.roc_auc is None and figures.spearman is None  # one class; too few pairs
    assert compute_figures([], [], [], []).as_dict()["outcomes"] == 0
    assert roc_auc(np.array([0.0, 1.0]), np.array([0.9, 0.1])) == 0.0
    assert expected_calibration_error(np.array([1.0]), np.array([1.0])) == 0.0


def test_quality_at_an_expensive_share_and_apgr() -> None:
    difficulty = [0.9, 0.1, 0.8, 0.2]
    cheap = [0.2, 0.9, 0.3, 0.9]
    expensive = [0.8, 0.9, 0.9, 0.9]
    reached, always = quality_vs_expensive_share(difficulty, cheap, expensive, 0.5)
    assert reached == pytest.approx(always) == pytest.approx(0.875)  # the two hard ones were sent expensive
    ranked_well, ranked_badly = apgr(difficulty, cheap, expensive), apgr([0.1, 0.9, 0.2, 0.8], cheap, expensive)
    assert ranked_well is not None and ranked_badly is not None and ranked_well > ranked_badly
    assert apgr(difficulty, cheap, cheap) is None  # no gain to share


def test_platt_calibration_learns_an_overconfident_score() -> None:
    rng = random.Random(5)
    calibrator = PlattCalibrator()
    for _ in range(600):
        true_logit = rng.uniform(-3, 3)
        label = 1 if rng.random() < sigmoid(true_logit) else 0
        calibrator.learn(3.0 * true_logit, label)  # the raw score is three times too confident
    assert calibrator.a == pytest.approx(1 / 3, abs=0.12)
    assert abs(calibrator.b) < 0.3
