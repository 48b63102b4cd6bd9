"""`hololoom ask`: one pass through the answer path."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import CliError, add_common_options, open_engine, print_json


def register(subparsers: Any) -> None:
    """Add the `ask` subcommand."""
    parser = subparsers.add_parser("ask", help="ask one question and print the structured answer",
                                   description="Ask one question through the answer path (retrieval, "
                                   "generation, judge) and print the answer. Nothing is posted to a room.")
    parser.add_argument("question", help="the question, in quotes")
    parser.add_argument("--json", action="store_true", help="print sections, agent, provider, quality, "
                        "judge verdict, loop steps, latency and sources as JSON")
    parser.add_argument("--room", default=None, help="answer as if asked in this room (affects retrieval filters)")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Answer the question and print it."""
    question = args.question.strip()
    if not question:
        raise CliError("ask: the question is empty; try: hololoom ask \"why is checkout-api returning 500s?\"", 2)
    async with open_engine(args) as engine:
        answer = await engine.ask(question, room_id=args.room, asker="cli")
    if args.json:
        print_json(answer.as_dict())
    else:
        print(answer.markdown)
        print()
        print(f"— agent {answer.agent} · provider {answer.provider} · quality {answer.quality:.2f} · "
              f"{answer.latency_ms:.1f} ms")
    return 0
