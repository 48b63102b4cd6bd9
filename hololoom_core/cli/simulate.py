"""`hololoom simulate`: a seeded simulated team asks the question bank through the real pipeline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hololoom_core.cli.common import CliError, add_common_options, open_engine, positive_int, print_json


def register(subparsers: Any) -> None:
    """Add the `simulate` subcommand."""
    parser = subparsers.add_parser(
        "simulate", help="measure the bot: a simulated team asks the question bank; before/after table",
        description="Run a seeded simulated team through the real pipeline (local room, real store, judge, "
        "offline engine) and print response quality, retry rate, resolution time and satisfaction for the first "
        "and the last window of questions, with 95%% intervals. The same seed gives the same numbers.")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the simulated team (default 7)")
    parser.add_argument("--questions", type=positive_int, default=300, help="questions to ask (default 300)")
    parser.add_argument("--users", type=positive_int, default=8, help="simulated users (default 8)")
    parser.add_argument("--window", type=positive_int, default=None,
                        help="questions in each before/after window (default: a quarter of the run)")
    parser.add_argument("--no-improve", action="store_true", help="the same run with the self-improving loop off")
    parser.add_argument("--sim-dir", metavar="DIR", default=None,
                        help="keep the simulation's store here (default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-save", action="store_true",
                        help="do not keep the table in the data dir's store (the app's Self-Improving tab shows it)")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Run the simulation with a progress bar, print the table, keep it for the app."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hololoom_core.improving.bank import QuestionBankError
    from hololoom_core.improving.simulate import Simulation, SimulationOptions, table_markdown

    options = SimulationOptions(seed=args.seed, questions=args.questions, users=args.users,
                                improve=not args.no_improve, window=args.window,
                                data_dir=Path(args.sim_dir) if args.sim_dir else None)
    if options.window is not None and options.window > options.questions:
        raise CliError(f"simulate: --window {options.window} is larger than --questions {options.questions}", 2)
    try:
        simulation = Simulation(options)
    except QuestionBankError as exc:
        raise CliError(f"simulate: {exc}")
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, disable=args.json) as bar:
        task = bar.add_task("questions", total=options.questions)
        result = await simulation.run(lambda done, total: bar.update(task, completed=done))
    data = result.as_dict()
    if not args.no_save:
        from hololoom_core.improving.loop import ImprovementLoop

        async with open_engine(args) as engine:
            loop = engine.find_capability(ImprovementLoop)
            if loop is not None:
                loop.records.save_result("simulation", data, engine.clock.now())
                loop.step("simulated", f"simulation seed {options.seed}: quality {data['before']['quality']['mean']:.2f}"
                          f" → {data['after']['quality']['mean']:.2f}, retry rate "
                          f"{data['before']['retry_rate']['mean']:.0%} → {data['after']['retry_rate']['mean']:.0%}")
    if args.json:
        print_json(data)
    else:
        print(table_markdown(data))
        for event in data["loop"]["events"]:
            print(f"- {event['kind']}: {event['summary']}")
        print(f"({data['seconds']:.1f} s)")
    return 0
