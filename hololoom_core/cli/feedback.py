"""`hololoom feedback INTERACTION_ID up|down [--as USER]`: rate an answer from the shell."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import EXIT_USAGE, CliError, add_common_options, open_engine

VALUES = {"up": 1, "down": -1, "👍": 1, "👎": -1, "+1": 1, "-1": -1}


def register(subparsers: Any) -> None:
    """Add the `feedback` subcommand."""
    parser = subparsers.add_parser("feedback", help="give an answer a 👍 (up) or 👎 (down)",
                                   description="Rate an answer, like a 👍/👎 reaction in Matrix or the app's keys. "
                                   "The id is `interaction_id` from `hololoom ask --json` (or the app's tables). "
                                   "Rating again as the same person replaces your earlier rating.")
    parser.add_argument("interaction_id", metavar="INTERACTION_ID", help="the answer's interaction id (a number)")
    parser.add_argument("value", metavar="up|down", help="up (👍) or down (👎)")
    parser.add_argument("--as", dest="user", default="cli", metavar="USER",
                        help="who gives the rating (default: cli); one rating per person and answer")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Record the rating through `Engine.record_feedback`, so every observer learns from it."""
    try:
        interaction_id = int(args.interaction_id)
    except ValueError:
        raise CliError(f"feedback: INTERACTION_ID '{args.interaction_id}' is not a number; take "
                       "`interaction_id` from `hololoom ask --json`", EXIT_USAGE) from None
    value = VALUES.get(args.value.strip().lower())
    if value is None:
        raise CliError(f"feedback: '{args.value}' is not a rating; use up or down", EXIT_USAGE)
    user = args.user.strip()
    if not user or any(ch.isspace() for ch in user):
        raise CliError(f"feedback: --as '{args.user}' must be one word, for example --as alice", EXIT_USAGE)
    async with open_engine(args) as engine:
        row = engine.interactions.get(interaction_id)
        if row is None:
            newest = engine.store.scalar("SELECT max(id) FROM interactions")
            hint = f"ids run from 1 to {newest}" if newest else "no answers are stored yet"
            raise CliError(f"feedback: no interaction {interaction_id} in {engine.config.database_path} ({hint})")
        earlier = engine.store.query_one("SELECT value FROM feedback WHERE interaction_id = ? AND user_id = ? AND "
                                         "source = 'cli' AND ref = ''", (interaction_id, user))
        if earlier is not None and int(earlier["value"]) == value:
            print(f"{user} had already rated interaction {interaction_id} {args.value}; nothing changed.")
            return 0
        if earlier is not None:
            engine.interactions.remove_feedback(interaction_id, user, "cli", "")
        engine.record_feedback(interaction_id, user, value, "cli")
        total = engine.interactions.get(interaction_id)
        assert total is not None
    mark = "👍" if value > 0 else "👎"
    print(f"{mark} recorded on interaction {interaction_id} by {user} (net {total.feedback:+d} from "
          f"{total.feedback_count} rating(s)): {row.query[:80]}")
    return 0
