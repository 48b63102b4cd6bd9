"""`hololoom runbook`: list the runbooks or print one."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import CliError, add_common_options, open_engine
from hololoom_core.engine.builtin_commands import runbook_text
from hololoom_core.engine.commands import CommandError


def register(subparsers: Any) -> None:
    """Add the `runbook` subcommand."""
    parser = subparsers.add_parser("runbook", help="list the runbooks, or print one", aliases=["runbooks"])
    parser.add_argument("id", nargs="?", help="runbook id, e.g. http-5xx")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Print the list or the runbook."""
    async with open_engine(args) as engine:
        try:
            print(runbook_text(engine, args.id))
        except CommandError as exc:
            raise CliError(f"runbook: {exc}")
    return 0
