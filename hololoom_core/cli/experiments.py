"""`hololoom experiments`: the experiments, their variants, posteriors and promotions (read-only)."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import CliError, add_common_options, open_engine, print_json


def register(subparsers: Any) -> None:
    """Add the `experiments` subcommand."""
    parser = subparsers.add_parser(
        "experiments", help="list prompt experiments, or show one: variants, pulls, posteriors, P(best)",
        description="Show the A/B experiments of the answer path. Start and stop them with "
        "`hololoom say \"!experiment start NAME\"` (or in chat).")
    parser.add_argument("name", nargs="?", default=None, help="show this experiment's newest run in full")
    parser.add_argument("--json", action="store_true", help="print definitions and runs as JSON")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Print the experiments."""
    from hololoom_core.promptly.commands import list_markdown, report_markdown
    from hololoom_core.promptly.experiments import ExperimentService, variant_settings

    async with open_engine(args) as engine:
        service = engine.find_capability(ExperimentService)
        if service is None:
            raise CliError("experiments: the promptly capability is not installed in this engine")
        definitions = service.definitions()
        if args.name is not None:
            report = service.report_by_name(args.name)
            if report is None:
                known = ", ".join(sorted(definitions)) or "none"
                state = "has no run yet" if args.name in definitions else f"is not defined (defined: {known})"
                raise CliError(f"experiments: '{args.name}' {state}")
            if args.json:
                print_json(report.as_dict())
            else:
                print(report_markdown(report))
            return 0
        runs = service.runs(limit=50)
        if args.json:
            print_json({
                "definitions": {name: {"description": d.description,
                                       "variants": {v: variant_settings(s) for v, s in d.variants.items()}}
                                for name, d in sorted(definitions.items())},
                "active": (service.active() or {}).get("name"),
                "runs": [report.as_dict() for report in runs],
            })
        else:
            print(list_markdown(service, engine.config.bot.command_prefix))
    return 0
