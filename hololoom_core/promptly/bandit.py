"""Thompson sampling for continuous rewards: choosing variants, probability-to-be-best, promotion, rewards.

Pure functions over plain numbers, so the engine's experiments and `bench/bandit_convergence.py`
run exactly the same code. Rewards are in [0, 1] (a judge score, a share of 👍, a weighted mix).
Each variant's mean reward has a normal-inverse-gamma posterior (unknown mean and variance), so
its uncertainty shrinks with the *spread* of the rewards actually seen: judge scores that vary by
±0.05 make a variant's mean known after a few dozen answers, where a Beta posterior counting each
score as one coin flip would treat them as ±0.5 and need several hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Normal-inverse-gamma prior: mean 0.5 worth one answer; variance prior worth two answers with sd 0.15.
PRIOR_MEAN = 0.5
PRIOR_STRENGTH = 1.0
PRIOR_SHAPE = 1.0
PRIOR_SCALE = 0.0225


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant's evidence: answers, the sum and the sum of squares of their rewards."""

    name: str
    pulls: int
    reward_sum: float
    reward_square_sum: float | None = None

    @property
    def squares(self) -> float:
        """The sum of squared rewards; when unknown, the largest it can be for rewards in [0, 1] (the sum)."""
        return self.reward_sum if self.reward_square_sum is None else self.reward_square_sum

    @property
    def strength(self) -> float:
        """Posterior kappa: how many answers' worth of evidence the mean rests on."""
        return PRIOR_STRENGTH + self.pulls

    @property
    def posterior_mean(self) -> float:
        """The posterior mean of the variant's reward."""
        return (PRIOR_STRENGTH * PRIOR_MEAN + self.reward_sum) / self.strength

    @property
    def shape(self) -> float:
        """Posterior alpha of the variance."""
        return PRIOR_SHAPE + self.pulls / 2.0

    @property
    def scale(self) -> float:
        """Posterior beta of the variance: prior, spread within the rewards, and distance from the prior mean."""
        if self.pulls == 0:
            return PRIOR_SCALE
        mean = self.reward_sum / self.pulls
        within = max(0.0, self.squares - self.pulls * mean * mean)
        shift = PRIOR_STRENGTH * self.pulls * (mean - PRIOR_MEAN) ** 2 / self.strength
        return PRIOR_SCALE + 0.5 * within + 0.5 * shift

    @property
    def mean_reward(self) -> float | None:
        """The observed mean reward (None before the first pull)."""
        return self.reward_sum / self.pulls if self.pulls else None


def posterior_draws(arms: Sequence[Arm], draws: int, rng: np.random.Generator) -> np.ndarray:
    """A (draws x arms) matrix of samples of each variant's mean reward (Student-t marginals)."""
    import numpy as np

    locations = np.array([a.posterior_mean for a in arms])
    degrees = np.array([2.0 * a.shape for a in arms])
    spreads = np.sqrt(np.array([a.scale / (a.shape * a.strength) for a in arms]))
    return locations + spreads * rng.standard_t(degrees, size=(draws, len(arms)))


def thompson_choose(arms: Sequence[Arm], rng: np.random.Generator) -> int:
    """Draw once from each posterior and return the index of the largest draw."""
    import numpy as np

    return int(np.argmax(posterior_draws(arms, 1, rng)[0]))


def choose_variant(arms: Sequence[Arm], rng: np.random.Generator, min_each: int = 0) -> int:
    """The variant for the next answer: any variant still under `min_each` answers first (the least tried),
    else a Thompson draw.

    The warm-up keeps a sharp posterior from starving a variant before the promotion rule's
    per-variant minimum is met, which would block every promotion.
    """
    under = [index for index, arm in enumerate(arms) if arm.pulls < min_each]
    if under:
        return min(under, key=lambda index: arms[index].pulls)
    return thompson_choose(arms, rng)


def probability_best(arms: Sequence[Arm], draws: int, rng: np.random.Generator) -> list[float]:
    """Monte-Carlo probability that each variant has the highest true mean reward."""
    import numpy as np

    if not arms:
        return []
    samples = posterior_draws(arms, draws, rng)
    winners = np.argmax(samples, axis=1)
    counts = np.bincount(winners, minlength=len(arms))
    return [float(c) / draws for c in counts]


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


def summarise(arms: Sequence[Arm], draws: int, rng: np.random.Generator, level: float = 0.95) -> list[ArmSummary]:
    """Posterior mean, equal-tailed credible interval and probability-to-be-best of every arm, from one sample."""
    import numpy as np

    if not arms:
        return []
    samples = posterior_draws(arms, draws, rng)
    tail = (1.0 - level) / 2.0
    lows = np.clip(np.quantile(samples, tail, axis=0), 0.0, 1.0)
    highs = np.clip(np.quantile(samples, 1.0 - tail, axis=0), 0.0, 1.0)
    counts = np.bincount(np.argmax(samples, axis=1), minlength=len(arms))
    return [
        ArmSummary(arm.name, arm.pulls, arm.mean_reward, min(1.0, max(0.0, arm.posterior_mean)), float(lows[i]), float(highs[i]),
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
