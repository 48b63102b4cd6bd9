"""`hololoom experiments`: list, show, start and stop experiments (variants, posteriors, promotions)."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import CliError, add_common_options, open_engine, print_json


def register(subparsers: Any) -> None:
    """Add the `experiments` subcommand."""
    parser = subparsers.add_parser(
        "experiments", help="list prompt experiments, show one, or start / stop one",
        description="The A/B experiments of the answer path: `experiments` lists them, `experiments NAME` shows "
        "one, `experiments start NAME` and `experiments stop [NAME]` run them (as `!experiment` does in chat).")
    parser.add_argument("words", nargs="*", metavar="[start|stop] NAME",
                        help="NAME shows that experiment; `start NAME` starts it; `stop [NAME]` stops the active one")
    parser.add_argument("--json", action="store_true", help="print definitions and runs as JSON")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Print the experiments."""
    from hololoom_core.promptly.commands import list_markdown, report_markdown
    from hololoom_core.promptly.experiments import ExperimentError, ExperimentService, variant_settings

    words = list(args.words)
    action = words[0] if words and words[0] in ("start", "stop") else None
    if action == "start" and len(words) != 2:
        raise CliError("experiments start: name one experiment (hololoom experiments start NAME)", 2)
    if action is None and len(words) > 1:
        raise CliError(f"experiments: unknown action '{words[0]}'; use start or stop, or give one NAME", 2)
    async with open_engine(args) as engine:
        service = engine.find_capability(ExperimentService)
        if service is None:
            raise CliError("experiments: the promptly capability is not installed in this engine")
        definitions = service.definitions()
        if action is not None:
            if action == "start" and not engine.config.features.self_improving:
                raise CliError("experiments start: experiments are switched off (features.self_improving: false)")
            try:
                report = (service.start(words[1], by="cli") if action == "start"
                          else service.stop(words[1] if len(words) > 1 else None, by="cli"))
            except ExperimentError as exc:
                raise CliError(f"experiments {action}: {exc}")
            if args.json:
                print_json(report.as_dict())
            else:
                verb = "Started" if action == "start" else "Stopped"
                print(f"{verb} experiment `{report.name}`.\n\n{report_markdown(report)}")
            return 0
        name = words[0] if words else None
        if name is not None:
            report = service.report_by_name(name)
            if report is None:
                known = ", ".join(sorted(definitions)) or "none"
                if name not in definitions:
                    raise CliError(f"experiments: '{name}' is not defined (defined: {known})")
                definition = definitions[name]
                variants = {v: variant_settings(d) for v, d in definition.variants.items()}
                if args.json:
                    print_json({"name": name, "status": "not started", "description": definition.description,
                                "variants": variants})
                else:
                    print(f"**Experiment `{name}`** — not started. {definition.description}")
                    for variant, settings in variants.items():
                        print(f"- {variant}: {settings}")
                    print(f"Start it with `hololoom experiments start {name}`.")
                return 0
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
