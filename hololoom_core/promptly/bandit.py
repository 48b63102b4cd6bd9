"""Thompson sampling over Beta posteriors: choosing variants, probability-to-be-best, promotion, rewards.

Pure functions over plain numbers, so the engine's experiments and `bench/bandit_convergence.py`
run exactly the same code. Rewards are in [0, 1]; a reward r adds r to a variant's alpha and
1 - r to its beta (the fractional form of a Bernoulli update), so a judge score of 0.8 counts
as 0.8 of a success.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant's evidence: how often it was used and the sum of its rewards, over a Beta prior."""

    name: str
    pulls: int
    reward_sum: float
    prior_alpha: float = 1.0
    prior_beta: float = 1.0

    @property
    def alpha(self) -> float:
        """Posterior alpha: prior plus summed rewards."""
        return self.prior_alpha + self.reward_sum

    @property
    def beta(self) -> float:
        """Posterior beta: prior plus summed shortfalls (1 - reward)."""
        return self.prior_beta + (self.pulls - self.reward_sum)

    @property
    def posterior_mean(self) -> float:
        """The posterior mean of the variant's reward."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def mean_reward(self) -> float | None:
        """The observed mean reward (None before the first pull)."""
        return self.reward_sum / self.pulls if self.pulls else None


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """What dashboards show for a variant: posterior mean, credible interval and probability to be best."""

    name: str
    pulls: int
    mean_reward: float | None
    posterior_mean: float
    low: float
    high: float
    probability_best: float


def thompson_choose(arms: Sequence[Arm], rng: np.random.Generator) -> int:
    """Draw once from each posterior and return the index of the largest draw."""
    import numpy as np

    alphas = np.array([a.alpha for a in arms])
    betas = np.array([a.beta for a in arms])
    return int(np.argmax(rng.beta(alphas, betas)))


def posterior_draws(arms: Sequence[Arm], draws: int, rng: np.random.Generator) -> np.ndarray:
    """A (draws x arms) matrix of posterior samples."""
    import numpy as np

    alphas = np.array([a.alpha for a in arms])
    betas = np.array([a.beta for a in arms])
    return rng.beta(alphas, betas, size=(draws, len(arms)))


def probability_best(arms: Sequence[Arm], draws: int, rng: np.random.Generator) -> list[float]:
    """Monte-Carlo probability that each variant has the highest true reward."""
    import numpy as np

    if not arms:
        return []
    samples = posterior_draws(arms, draws, rng)
    winners = np.argmax(samples, axis=1)
    counts = np.bincount(winners, minlength=len(arms))
    return [float(c) / draws for c in counts]


def summarise(arms: Sequence[Arm], draws: int, rng: np.random.Generator, level: float = 0.95) -> list[ArmSummary]:
    """Posterior mean, equal-tailed credible interval and probability-to-be-best of every arm, from one sample."""
    import numpy as np

    if not arms:
        return []
    samples = posterior_draws(arms, draws, rng)
    tail = (1.0 - level) / 2.0
    lows = np.quantile(samples, tail, axis=0)
    highs = np.quantile(samples, 1.0 - tail, axis=0)
    counts = np.bincount(np.argmax(samples, axis=1), minlength=len(arms))
    return [
        ArmSummary(arm.name, arm.pulls, arm.mean_reward, arm.posterior_mean, float(lows[i]), float(highs[i]),
                   float(counts[i]) / draws)
        for i, arm in enumerate(arms)
    ]


def promotion_candidate(
    arms: Sequence[Arm],
    probabilities: Sequence[float],
    threshold: float,
    min_samples: int,
    min_samples_each: int = 1,
) -> int | None:
    """The variant to promote: best with probability >= threshold, with >= min_samples answers of its own
    and every other variant tried at least min_samples_each times.

    The winner's minimum guards against early luck; the per-variant minimum guards against promoting over
    a variant that was barely tried (Thompson sampling starves clear losers, so they cannot be held to the
    winner's minimum).
    """
    import numpy as np

    if not arms:
        return None
    best = int(np.argmax(probabilities))
    if probabilities[best] < threshold or arms[best].pulls < min_samples:
        return None
    if any(arm.pulls < min_samples_each for arm in arms):
        return None
    return best


def combine_reward(
    judge_score: float,
    reaction: float | None,
    reasked: bool,
    judge_weight: float,
    reaction_weight: float,
    reask_weight: float,
) -> float:
    """The weighted mean of the signals present: judge score, reactions (share of 👍) and re-ask (0 when re-asked).

    Signals that did not happen are left out rather than counted as neutral, so an answer nobody
    reacted to is rewarded on its judge score alone.
    """
    parts: list[tuple[float, float]] = [(judge_weight, min(1.0, max(0.0, judge_score)))]
    if reaction is not None:
        parts.append((reaction_weight, min(1.0, max(0.0, reaction))))
    if reasked:
        parts.append((reask_weight, 0.0))
    total = sum(weight for weight, _ in parts)
    if total <= 0:
        return min(1.0, max(0.0, judge_score))
    return sum(weight * value for weight, value in parts) / total
