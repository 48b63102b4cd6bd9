"""Does the self-improving loop help? The same seeded simulation with the loop on and off, over several seeds.

Prints, per seed, the after-window judge quality and retry rate with the loop on and off, the
difference, how many answers differed at all between the two runs, and what the loop did; then
the mean uplift across seeds. The simulation draws each need's reactions from its own seeded
generator (common random numbers), so the two runs of a seed differ only where answers differ.
Anchor: the `--no-improve` run of the same seed, measured in the same process.

Usage: python bench/simulate_uplift.py [--seeds 5] [--questions 600]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hololoom_core.improving.simulate import Simulation, SimulationOptions  # noqa: E402


async def main() -> int:
    """Run every seed twice and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N")
    parser.add_argument("--questions", type=int, default=600, help="questions per run")
    args = parser.parse_args()
    started = time.perf_counter()
    quality_uplift, retry_uplift = [], []
    print("| seed | quality on | quality off | Δ quality | retry on | retry off | Δ retry | answers that differ | "
          "loop steps |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for seed in range(1, args.seeds + 1):
        on = await Simulation(SimulationOptions(seed=seed, questions=args.questions, improve=True)).run()
        off = await Simulation(SimulationOptions(seed=seed, questions=args.questions, improve=False)).run()
        differ = sum(1 for a, b in zip(on.episodes, off.episodes, strict=True)
                     if (a.quality, a.satisfied, a.retried) != (b.quality, b.satisfied, b.retried))
        q_on, q_off = on.after["quality"]["mean"], off.after["quality"]["mean"]
        r_on, r_off = on.after["retry_rate"]["mean"], off.after["retry_rate"]["mean"]
        quality_uplift.append(q_on - q_off)
        retry_uplift.append(r_on - r_off)
        counts = Counter(e["kind"] for e in on.loop_events)
        on_replay = sum(1 for e in on.loop_events if e["kind"] == "promoted" and "replay_questions" in e["detail"])
        steps = ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "none"
        steps += f" (adopted on replay: {on_replay})" if on_replay else ""
        print(f"| {seed} | {q_on:.4f} | {q_off:.4f} | {q_on - q_off:+.4f} | {r_on:.1%} | {r_off:.1%} | "
              f"{r_on - r_off:+.1%} | {differ}/{len(on.episodes)} | {steps} |")
    print(f"\nmean after-window quality uplift {statistics.fmean(quality_uplift):+.4f}, retry rate change "
          f"{statistics.fmean(retry_uplift):+.1%}; loop beat --no-improve on quality in "
          f"{sum(1 for u in quality_uplift if u > 0)}/{len(quality_uplift)} seeds, retry rate lower in "
          f"{sum(1 for u in retry_uplift if u < 0)}/{len(retry_uplift)} "
          f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
