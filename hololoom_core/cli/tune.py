"""`hololoom tune`: UCT search over answer-path configurations, rewarded by the judge on a replay set."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import add_common_options, open_engine, positive_int, print_json


def register(subparsers: Any) -> None:
    """Add the `tune` subcommand."""
    parser = subparsers.add_parser(
        "tune", help="search configurations (retrieval → agent → loop → prompt) by UCT on a replay set",
        description="Monte-Carlo tree search over the answer path's configurations; each evaluation is the judge "
        "score of one answer to a replay question (the shipped question bank). The best configurations become "
        "candidate variants for the self-improving loop.")
    parser.add_argument("--budget", type=positive_int, default=200, help="answers the search may spend (default 200)")
    parser.add_argument("--replay", type=positive_int, default=40, help="replay questions (default 40)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--compare", action="store_true", help="also run the exhaustive search and compare")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_common_options(parser)
    parser.set_defaults(handler=run)


def tune_markdown(data: dict[str, Any]) -> str:
    """The search's result and tree statistics as Markdown."""
    best = data["best"]
    lines = [f"**Best configuration**: {best['retrieval']} → {best['agent']} → {best['loop']} → {best['prompt']} "
             f"(estimate {data['best_estimate']:.4f} over {data['best_visits']} answers)",
             f"{data['evaluations']} evaluations on {data['replay_questions']} replay questions; "
             f"{data['leaves_visited']} of {data['leaves']} configurations tried.", ""]
    for level in data["tree"]:
        cells = ", ".join(f"{o['option']} {o['mean']:.3f} ({o['visits']})" for o in level["options"])
        lines.append(f"- {level['level']}: {cells}")
    if "exhaustive_best_score" in data:
        lines += ["", f"Exhaustive search: best {data['exhaustive_best_score']:.4f} with "
                  f"{data['exhaustive_evaluations']} evaluations (worst configuration "
                  f"{data['exhaustive_worst_score']:.4f}); the search's best scores {data['best_score']:.4f} = "
                  f"{data['share_of_best']:.1%} of it with {data['share_of_evaluations']:.1%} of the evaluations."]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> int:
    """Run the search on the engine's registered agents; keep the result for the loop and the app."""
    from hololoom_core.improving.loop import ImprovementLoop
    from hololoom_core.improving.tune import TuneOptions, agent_options, run_tune

    async with open_engine(args) as engine:
        agents = agent_options(engine)
        data = await run_tune(TuneOptions(budget=args.budget, replay=args.replay, seed=args.seed,
                                          compare=args.compare), agents=agents)
        loop = engine.find_capability(ImprovementLoop)
        if loop is not None:
            loop.records.save_result("tune", data, engine.clock.now())
            loop.step("tuned", f"tune: best {data['best']['retrieval']} → {data['best']['loop']} → "
                      f"{data['best']['prompt']} ({data['evaluations']} evaluations)")
    if args.json:
        print_json(data)
    else:
        print(tune_markdown(data))
    return 0
