"""Installs workflows into the engine: the service, its bus triggers and start/stop hooks, `!workflow`,
and one chat command per workflow `command:` trigger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hololoom_core.engine.capabilities import Capability
from hololoom_core.engine.commands import CommandContext, CommandError, CommandResult
from hololoom_core.ops.commands.aliases import WorkflowStarter
from hololoom_core.ops.dashboard import PendingApprovals
from hololoom_core.ops.workflows.library import LoadProblem, WorkflowLibrary
from hololoom_core.ops.workflows.render import library_markdown, run_markdown, runs_markdown
from hololoom_core.ops.workflows.schema import IDENTIFIER_RE, TriggerSpec, WorkflowDefinition
from hololoom_core.ops.workflows.service import WorkflowError, WorkflowService
from hololoom_core.ops.workflows.store import WORKFLOWS_V1
from hololoom_core.packages import package_folders

if TYPE_CHECKING:
    from hololoom_core.config import Config
    from hololoom_core.engine.pipeline import Engine

SUBCOMMANDS = ("list", "run", "status", "runs", "approve", "deny", "cancel")


def user_directory(config: Config) -> Path:
    """Where the user's own workflows live: `workflows.directory`, else `<data dir>/workflows`."""
    return Path(config.workflows.directory).expanduser() if config.workflows.directory else \
        config.data_dir / "workflows"


def package_directories(config: Config) -> list[tuple[str, Path]]:
    """The `workflows/` folder of each installed marketplace package, with the package's name."""
    return package_folders(config.data_dir, "workflows")


def load_library(config: Config) -> WorkflowLibrary:
    """The shipped workflows (unless switched off), installed packages' workflows, then the user's folder."""
    return WorkflowLibrary.load([user_directory(config)], shipped=config.workflows.load_shipped,
                                packages=package_directories(config))


def reload_library(engine: Engine) -> WorkflowLibrary | None:
    """Load the library again into the running service (after a package install, update or removal).

    New `command:` triggers get their chat command, removed workflows lose theirs; runs in flight keep
    the steps they started with. Returns None when workflows are switched off.
    """
    service = engine.find_capability(WorkflowService)
    if service is None:
        return None
    library = load_library(engine.config)
    old = service.library
    for definition in old.all():
        for trigger in definition.triggers:
            spec = engine.commands.get(trigger.value)
            if trigger.kind == "command" and library.get(definition.name) is None and spec is not None \
                    and spec.group == "workflows":
                engine.commands.unregister(trigger.value)
    service.library = library
    engine.overview_panels["workflows"] = lambda _engine: {"installed": len(service.library)}
    for definition in library.all():
        for trigger in definition.triggers:
            if trigger.kind == "command" and old.get(definition.name) is None:
                _register_trigger_command(engine, service, definition, trigger)
    return library


def invocation_args(definition: WorkflowDefinition, argv: list[str]) -> dict[str, str]:
    """`key=value` words and positional words (in the order of the params) as run arguments."""
    named: dict[str, str] = {}
    positional: list[str] = []
    for token in argv:
        key, separator, value = token.partition("=")
        if separator and IDENTIFIER_RE.match(key):
            if definition.param(key) is None:
                takes = ", ".join(param.name for param in definition.params) or "no arguments"
                raise WorkflowError(f"`{definition.name}` has no argument '{key}' (it takes: {takes})")
            named[key] = value
        else:
            positional.append(token)
    free = [param.name for param in definition.params if param.name not in named]
    if len(positional) > len(free):
        raise WorkflowError(f"`{definition.name}` takes {definition.usage or 'no arguments'}; put text with spaces "
                            "in quotes")
    named.update(zip(free, positional, strict=False))
    return named


class WorkflowsCapability(Capability):
    """YAML workflows with triggers, approval gates and durable runs; provides `WorkflowService`."""

    name = "workflows"
    migrations = {"workflows": [WORKFLOWS_V1]}

    def install(self, engine: Engine) -> None:
        """Build the workflow service and plug it into the engine."""
        install_workflows(engine)


def install_workflows(engine: Engine) -> None:
    """Load the library, report its problems, and (when enabled) provide the service and its commands."""
    library = load_library(engine.config)
    service = WorkflowService(engine, library)
    for problem in library.problems:
        engine.report_error("workflows", str(problem))
    engine.set_status("workflows", "warn" if library.problems else "ok",
                      f"{len(library)} workflows" + (f", {len(library.problems)} problem(s)" if library.problems else ""))
    if not engine.config.workflows.enabled:
        return
    engine.provide(service)
    engine.provide(service, as_type=PendingApprovals)  # the dashboard's approvals list
    engine.provide(service, as_type=WorkflowStarter)  # YAML aliases that start workflows
    engine.overview_panels["workflows"] = lambda _engine: {"installed": len(service.library)}
    engine.bus.subscribe(service.triggers.on_event)
    engine.startup_hooks.append(service.start)
    engine.shutdown_hooks.append(service.close)
    _register_workflow_command(engine, service)
    for definition in library.all():
        for trigger in definition.triggers:
            if trigger.kind == "command":
                _register_trigger_command(engine, service, definition, trigger)


def _register_workflow_command(engine: Engine, service: WorkflowService) -> None:
    prefix = engine.config.bot.command_prefix

    @engine.commands.command(
        "workflow",
        help="Run workflows, follow their runs and answer their approval gates.",
        usage="workflow list|run NAME [args]|status [RUN]|approve RUN|deny RUN|cancel RUN",
        aliases=("workflows", "wf"),
        group="ops",
    )
    async def workflow(context: CommandContext) -> CommandResult | str:
        try:
            return await _workflow_subcommand(context)
        except WorkflowError as exc:  # refusals and unknown names: one line, no usage block
            return CommandResult(str(exc), ok=False)

    spec = engine.commands.get("workflow")
    if spec is not None:
        spec.also_checks = tuple(f"workflow {action}" for action in SUBCOMMANDS if action != "runs")

    async def _workflow_subcommand(context: CommandContext) -> CommandResult | str:
        argv = context.argv
        action = argv[0].lower() if argv else "list"
        rest = argv[1:]
        if action not in SUBCOMMANDS:
            raise CommandError(f"Unknown subcommand '{action}'; use one of {', '.join(SUBCOMMANDS)}")
        scope = engine.room_scope(context.room_id)  # rooms are walls: runs of other rooms are not listed
        if action == "list":
            return library_markdown(service.library, prefix, [waiting for waiting in service.waiting_for_approval()
                                                              if scope.allows(waiting["room_id"])])
        if action in ("status", "runs"):
            if not rest:
                return runs_markdown([run for run in service.runs.recent(200) if scope.allows(run.room_id)][:15])
            run = service.get_run(rest[0])
            if not scope.allows(run.room_id):
                raise WorkflowError(f"No run {run.label} in a room readable from {context.room_id}")
            return run_markdown(run, prefix)
        if action == "run":
            if not rest:
                raise CommandError("Name the workflow to run")
            definition = service.definition(rest[0])
            args = invocation_args(definition, rest[1:])
            return await service.start_run(definition.name, args, user=context.user, room_id=context.room_id,
                                           thread_id=context.message.thread_id)
        if not rest:
            raise CommandError(f"Name the run, for example `{prefix}workflow {action} 12`")
        if action == "cancel":
            return await service.cancel(rest[0], user=context.user, room_id=context.room_id)
        comment = " ".join(rest[1:])
        decide = service.approve if action == "approve" else service.deny
        return await decide(rest[0], user=context.user, room_id=context.room_id, comment=comment)


def _register_trigger_command(engine: Engine, service: WorkflowService, definition: WorkflowDefinition,
                              trigger: TriggerSpec) -> None:
    """`!NAME args` starts the workflow, unless another command already owns that name."""
    if engine.commands.get(trigger.value) is not None:
        problem = LoadProblem(definition.source, trigger.line,
                              f"command '{trigger.value}' is already taken by another command; use "
                              f"`workflow run {definition.name}` instead")
        service.library.problems.append(problem)
        engine.report_error("workflows", str(problem))
        return
    name = definition.name
    first_line = definition.description.splitlines()[0] if definition.description else f"Run the {name} workflow."
    help_text = trigger.options.get("help") or first_line

    async def start(context: CommandContext) -> CommandResult | str:
        try:
            current = service.definition(name)
            return await service.start_run(name, invocation_args(current, context.argv), user=context.user,
                                           room_id=context.room_id, thread_id=context.message.thread_id)
        except WorkflowError as exc:
            return CommandResult(str(exc), ok=False)

    engine.commands.command(trigger.value, help=help_text, usage=f"{trigger.value} {definition.usage}".strip(),
                            group="workflows")(start)
    spec = engine.commands.get(trigger.value)
    if spec is not None:
        spec.also_checks = ("workflow run", *service.step_commands(definition.program))
