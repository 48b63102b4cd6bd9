"""`hololoom doctor`: check config, data dir, store and optional parts, one line each."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import add_common_options, config_from_args, print_json
from hololoom_core.doctor import run_checks


def register(subparsers: Any) -> None:
    """Add the `doctor` subcommand."""
    parser = subparsers.add_parser("doctor", help="check the setup: config, data dir, store, optional parts")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Run every check; exit 1 if any failed."""
    config = config_from_args(args)
    results = await run_checks(config)
    if args.json:
        print_json([{"check": r.name, "status": r.status, "detail": r.detail} for r in results])
    else:
        width = max(len(r.name) for r in results)
        for result in results:
            print(f"{result.status:<4}  {result.name:<{width}}  {result.detail}")
    return 1 if any(r.status == "fail" for r in results) else 0
