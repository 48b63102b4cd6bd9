"""`hololoom route`: which agent would answer a question, with every probability and the reason."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hololoom_core.cli.common import EXIT_USAGE, CliError, add_common_options, config_from_args, print_json


def register(subparsers: Any) -> None:
    """Add the `route` subcommand."""
    parser = subparsers.add_parser(
        "route", help="show which agent would answer a question, and why",
        description="Route questions with the offline router (nothing is answered or stored): the agent, its "
                    "confidence, every agent's probability, the runner-up, the margin, the reason, and the "
                    "agents that would collaborate.")
    parser.add_argument("question", nargs="?", help="the question, in quotes (or use --file)")
    parser.add_argument("--file", metavar="FILE", help="route every line of FILE (one question a line; '-' reads "
                        "stdin); prints one JSON object a line with --json")
    parser.add_argument("--json", action="store_true", help="print JSON: agent, confidence, scores, runner_up, "
                        "margin, reason, agents, decided_by")
    add_common_options(parser)
    parser.set_defaults(handler=run)


def _questions(args: argparse.Namespace) -> list[str]:
    if args.file and args.question:
        raise CliError("route: give a QUESTION or --file FILE, not both", EXIT_USAGE)
    if args.file:
        try:
            text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"route: cannot read {args.file} ({getattr(exc, 'strerror', None) or exc})")
        return [line.strip() for line in text.splitlines() if line.strip()]
    if not args.question or not args.question.strip():
        raise CliError("route: the question is empty; try: hololoom route \"checkout 500s after the deploy\"",
                       EXIT_USAGE)
    return [args.question.strip()]


async def run(args: argparse.Namespace) -> int:
    """Route each question and print the decisions."""
    from hololoom_core.agents.corrections import CorrectionStore
    from hololoom_core.agents.model import ModelCache
    from hololoom_core.agents.roster import load_roster
    from hololoom_core.agents.router import AgentRouter
    from hololoom_core.store import Store, StoreError

    questions = _questions(args)
    config = config_from_args(args)
    corrections: list[tuple[str, str]] = []
    if config.database_path.exists():
        try:
            store = Store(config.database_path)
        except StoreError as exc:
            raise CliError(f"store error: {exc}")
        try:
            if store.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'agent_corrections'"):
                corrections = CorrectionStore(store).training_pairs()
        finally:
            store.close()
    router = AgentRouter(load_roster(), config.agents, ModelCache(config.data_dir / "agents"), lambda: corrections)
    try:
        for question in questions:
            decision = router.decide(question)
            if args.json:
                line = decision.as_dict()
                if args.file:
                    print(json.dumps({"question": question, **line}, ensure_ascii=False))
                else:
                    print_json(line)
            else:
                scores = "  ".join(f"{name} {p:.2f}" for name, p in sorted(decision.scores.items(),
                                                                            key=lambda item: -item[1]))
                team = f" (collaboration: {' + '.join(decision.agents)})" if decision.collaborative else ""
                print(f"{decision.agent}{team} · confidence {decision.confidence:.2f} · margin {decision.margin:.2f}")
                print(f"  {scores}")
                print(f"  {decision.reason}")
    finally:
        router.close()
    return 0
