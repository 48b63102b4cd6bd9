"""How many answers the experiment bandit needs to find a variant that is 10 points better.

Runs the engine's own bandit code (`hololoom_core.promptly.bandit`: Thompson sampling over
normal-inverse-gamma posteriors, Monte-Carlo probability-to-be-best, the promotion rule) on simulated answers, over
many seeds, and prints the median and 90th percentile of:

* answers until the better variant first reaches 95% probability-to-be-best, and
* answers until the engine's promotion rule fires (P(best) >= 95%, winner >= 20 answers,
  every variant >= 5), with how often it promoted the wrong variant.

Two reward models:

* `reactions`: each answer is a coin flip (a 👍 with probability 0.60 vs 0.70), the noisiest case.
* `judge`: continuous judge scores with means 0.70 vs 0.80 and the spread the heuristic judge
  really has on the offline engine's answers (measured here first, over questions built from the
  shipped runbooks' symptoms).

Usage: python bench/bandit_convergence.py [--seeds 200] [--cap 3000] [--draws 4000] [--variants 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hololoom_core.answers.judge import HeuristicJudge  # noqa: E402
from hololoom_core.answers.spec import default_spec  # noqa: E402
from hololoom_core.answers.ultraprompt import parse_sections  # noqa: E402
from hololoom_core.llm.base import AnswerRequest  # noqa: E402
from hololoom_core.llm.offline import OfflineAnswerEngine  # noqa: E402
from hololoom_core.llm.runbooks import RunbookLibrary  # noqa: E402
from hololoom_core.models import Source  # noqa: E402
from hololoom_core.promptly.bandit import Arm, choose_variant, probability_best, promotion_candidate  # noqa: E402


def measured_judge_spread() -> tuple[float, float, int]:
    """Mean and standard deviation of heuristic judge scores on offline answers to runbook-symptom questions."""
    library = RunbookLibrary.from_directory()
    engine = OfflineAnswerEngine(library)
    judge = HeuristicJudge(spec=default_spec())
    scores = []
    for runbook in library.runbooks.values():
        for symptom in runbook.symptoms:
            matches = library.search(symptom, limit=2)
            sources = [Source("runbook", m.runbook.id, m.runbook.title, m.runbook.summary, m.confidence)
                       for m in matches]
            text = asyncio.run(engine.answer(AnswerRequest(symptom, sources)))
            scores.append(judge.judge(symptom, parse_sections(text), sources).score)
    return statistics.fmean(scores), statistics.pstdev(scores), len(scores)


@dataclass(slots=True)
class Outcome:
    """One seeded run: answers to reach 95% P(best), answers to promotion, and who was promoted."""

    to_confident: int | None
    to_promotion: int | None
    promoted: int | None


def beta_params(mean: float, sd: float) -> tuple[float, float]:
    """Beta(a, b) with the given mean and standard deviation."""
    common = mean * (1 - mean) / (sd * sd) - 1
    return mean * common, (1 - mean) * common


def run_once(means: list[float], reward: str, sd: float, seed: int, cap: int, draws: int,
             threshold: float, min_samples: int, min_each: int) -> Outcome:
    """Thompson-sample until promotion (or the cap), noting when the best variant first reached the threshold."""
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(seed + 1_000_003)
    best = int(np.argmax(means))
    pulls = [0] * len(means)
    sums = [0.0] * len(means)
    squares = [0.0] * len(means)
    shapes = [beta_params(m, sd) for m in means]
    to_confident = None
    for answer in range(1, cap + 1):
        arms = [Arm(str(i), pulls[i], sums[i], squares[i]) for i in range(len(means))]
        chosen = choose_variant(arms, rng, min_each)
        if reward == "reactions":
            value = float(world.random() < means[chosen])
        else:
            value = float(world.beta(*shapes[chosen]))
        pulls[chosen] += 1
        sums[chosen] += value
        squares[chosen] += value * value
        arms = [Arm(str(i), pulls[i], sums[i], squares[i]) for i in range(len(means))]
        probabilities = probability_best(arms, draws, rng)
        if to_confident is None and probabilities[best] >= threshold:
            to_confident = answer
        promoted = promotion_candidate(arms, probabilities, threshold, min_samples, min_each)
        if promoted is not None:
            return Outcome(to_confident, answer, promoted)
    return Outcome(to_confident, None, None)


def percentile(values: list[int], fraction: float) -> int:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def report(name: str, means: list[float], outcomes: list[Outcome], cap: int) -> None:
    """Print the figures of one scenario."""
    best = int(np.argmax(means))
    confident = [o.to_confident for o in outcomes if o.to_confident is not None]
    promoted = [o.to_promotion for o in outcomes if o.to_promotion is not None]
    wrong = sum(1 for o in outcomes if o.promoted is not None and o.promoted != best)
    print(f"\n{name}: true means {', '.join(f'{m:.2f}' for m in means)} (best is variant {best})")
    if confident:
        print(f"  answers until the best variant reaches 95% P(best): median {statistics.median(confident):.0f}, "
              f"p90 {percentile(confident, 0.9)}, mean {statistics.fmean(confident):.0f} "
              f"({len(confident)}/{len(outcomes)} runs got there within {cap})")
    if promoted:
        print(f"  answers until the promotion rule fires:           median {statistics.median(promoted):.0f}, "
              f"p90 {percentile(promoted, 0.9)} ({len(promoted)}/{len(outcomes)} runs promoted within {cap}; "
              f"wrong variant promoted in {wrong} run(s) = {wrong / len(outcomes):.1%})")


def main() -> int:
    """Run both reward models and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--cap", type=int, default=3000, help="give up after this many answers")
    parser.add_argument("--draws", type=int, default=4000, help="Monte-Carlo draws for P(best), as the engine")
    parser.add_argument("--variants", type=int, default=2, choices=(2, 3, 4),
                        help="number of variants (extra ones sit between the two)")
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--min-samples", type=int, default=20)
    parser.add_argument("--min-samples-each", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    judge_mean, judge_sd, judged = measured_judge_spread()
    print(f"heuristic judge on {judged} offline answers to runbook-symptom questions: mean {judge_mean:.3f}, "
          f"sd {judge_sd:.3f}")
    sd = max(judge_sd, 0.02)
    extra = {2: [], 3: [0.05], 4: [0.03, 0.06]}[args.variants]
    print(f"{args.seeds} seeds, cap {args.cap} answers, {args.draws} Monte-Carlo draws, promotion at P(best) >= "
          f"{args.threshold:.0%} with winner >= {args.min_samples} and each variant >= {args.min_samples_each}")
    for name, reward, base in (("reactions (coin flips)", "reactions", 0.60), ("judge scores", "judge", 0.70)):
        means = [base] + [base + e for e in extra] + [base + 0.10]
        outcomes = [run_once(means, reward, sd, seed, args.cap, args.draws, args.threshold, args.min_samples,
                             args.min_samples_each) for seed in range(args.seeds)]
        report(f"{name}, sd {sd:.3f}" if reward == "judge" else name, means, outcomes, args.cap)
    print(f"\n({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
