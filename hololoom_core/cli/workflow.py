"""`hololoom workflow`: validate workflow files, list workflows, run one, and show recent runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hololoom_core.cli.common import (
    EXIT_USAGE,
    CliError,
    add_common_options,
    config_from_args,
    open_engine,
    print_json,
)


def register(subparsers: Any) -> None:
    """Add the `workflow` subcommand and its actions."""
    parser = subparsers.add_parser("workflow", aliases=["workflows"], help="validate, list and run workflows",
                                   description="Workflow automation from the command line. Runs started here are "
                                   "stored like runs started in chat: a run paused at an approval gate is "
                                   "approved with: hololoom say \"!workflow approve N\" --as USER.")
    actions = parser.add_subparsers(dest="workflow_action", metavar="ACTION", parser_class=type(parser))
    validate = actions.add_parser("validate", help="check workflow files against the schema and the run policy "
                                  "(shell allow-list, HTTP hosts, step budget); one line per problem")
    validate.add_argument("files", nargs="+", metavar="FILE", help="workflow YAML files")
    add_common_options(validate)
    validate.set_defaults(handler=run_validate)
    listing = actions.add_parser("list", help="list the workflows this installation loads, and load problems")
    listing.add_argument("--json", action="store_true", help="print as JSON")
    add_common_options(listing)
    listing.set_defaults(handler=run_list)
    start = actions.add_parser("run", help="start a workflow and print what it says until it pauses or ends")
    start.add_argument("name", help="workflow name, e.g. standup-digest")
    start.add_argument("args", nargs="*", metavar="KEY=VALUE", help="arguments (or positional values in the "
                       "order of the workflow's params)")
    start.add_argument("--as", dest="user", default="operator", metavar="USER", help="who starts it (default "
                       "operator)")
    start.add_argument("--room", default=None, help="the room its messages go to (default: workflows.default_room)")
    add_common_options(start)
    start.set_defaults(handler=run_start)
    runs = actions.add_parser("runs", help="show recent runs, or one run with its steps")
    runs.add_argument("run", nargs="?", help="a run id (12 or WF-12) to show in full")
    runs.add_argument("--limit", type=int, default=20, help="how many recent runs (default 20)")
    runs.add_argument("--json", action="store_true", help="print as JSON")
    add_common_options(runs)
    runs.set_defaults(handler=run_runs)
    parser.set_defaults(handler=_usage(parser))


def _usage(parser: argparse.ArgumentParser) -> Any:
    async def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_USAGE

    return show


async def run_validate(args: argparse.Namespace) -> int:
    """Validate each file against the schema and the policy a run applies; print `FILE: ok (...)` or
    `FILE:LINE: problem`. Exit 1 when any file is bad."""
    from hololoom_core.ops.workflows.commands import load_library
    from hololoom_core.ops.workflows.library import load_file
    from hololoom_core.ops.workflows.policy import policy_problems
    from hololoom_core.ops.workflows.schema import WorkflowSchemaError

    config = config_from_args(args)
    known = set(load_library(config).definitions)
    bad = 0
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            print(f"{path}: no such file")
            bad += 1
            continue
        try:
            definition = load_file(path)
        except WorkflowSchemaError as exc:
            print(exc)
            bad += 1
            continue
        known.add(definition.name)
        problems = policy_problems(definition, config.workflows)
        errors = [problem for problem in problems if problem.error]
        for problem in errors:
            print(problem)
        if errors:
            bad += 1
            continue
        unknown_calls = [(target, line) for target, line in definition.calls if target not in known]
        triggers = ", ".join(f"{t.kind} {t.value}" for t in definition.triggers) or "no triggers"
        print(f"{path}: ok ({definition.name}, {len(definition.program)} compiled steps, {triggers})")
        for problem in problems:
            if not problem.error:
                print(problem)
        for target, line in unknown_calls:
            print(f"{path}:{line}: warning: calls unknown workflow '{target}'")
    return 1 if bad else 0


async def run_list(args: argparse.Namespace) -> int:
    """List workflows and load problems."""
    from hololoom_core.ops.workflows.commands import load_library
    from hololoom_core.ops.workflows.render import library_markdown

    library = load_library(config_from_args(args))
    if args.json:
        print_json({
            "workflows": [{"name": d.name, "description": d.description, "source": d.source,
                           "params": [p.name for p in d.params],
                           "triggers": [{"kind": t.kind, "value": t.value} for t in d.triggers]}
                          for d in library.all()],
            "problems": [str(problem) for problem in library.problems],
        })
    else:
        print(library_markdown(library, "!", []))
    return 1 if library.problems else 0


async def run_start(args: argparse.Namespace) -> int:
    """Start a workflow and print its output."""
    from hololoom_core.ops.workflows.commands import invocation_args
    from hololoom_core.ops.workflows.service import WorkflowError, WorkflowService

    async with open_engine(args) as engine:
        service = engine.find_capability(WorkflowService)
        if service is None:
            raise CliError("workflow: workflows are switched off (workflows.enabled: false)")
        room = args.room or engine.config.workflows.default_room
        try:
            definition = service.definition(args.name)
            text = await service.start_run(definition.name, invocation_args(definition, args.args), user=args.user,
                                           room_id=room, trigger="cli")  # the local operator may run all
        except WorkflowError as exc:
            raise CliError(f"workflow: {exc}", EXIT_USAGE)
    print(text)
    return 0


async def run_runs(args: argparse.Namespace) -> int:
    """Show recent runs or one run."""
    from hololoom_core.ops.workflows.render import run_markdown, runs_markdown
    from hololoom_core.ops.workflows.service import WorkflowError, WorkflowService

    async with open_engine(args) as engine:
        service = engine.find_capability(WorkflowService)
        if service is None:
            raise CliError("workflow: workflows are switched off (workflows.enabled: false)")
        try:
            runs = [service.get_run(args.run)] if args.run else service.runs.recent(max(1, args.limit))
        except WorkflowError as exc:
            raise CliError(f"workflow: {exc}", EXIT_USAGE)
    if args.json:
        print_json([{"id": run.id, "label": run.label, "workflow": run.workflow, "status": run.status,
                     "trigger": run.trigger, "started_by": run.started_by, "room": run.room_id,
                     "created_ts": run.created_ts, "finished_ts": run.finished_ts, "error": run.error,
                     "steps": run.steps} for run in runs])
    elif args.run:
        print(run_markdown(runs[0], engine.config.bot.command_prefix))
    else:
        print(runs_markdown(runs))
    return 0
