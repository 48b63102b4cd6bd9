"""The workflow service: starts runs, executes them step by step, decides approvals, fires timers and
schedules, and resumes runs after a restart. Provided as `engine.capability(WorkflowService)`."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from hololoom_core.engine.commands import CommandError
from hololoom_core.engine.periodic import run_every
from hololoom_core.ops.workflows.authority import (
    ADMINS,
    GROUP_PREFIX,
    OPERATOR,
    STEP_PERMISSIONS,
    USER,
    authority_for,
    authority_of,
    step_command,
)
from hololoom_core.ops.workflows.events import WorkflowRunChanged
from hololoom_core.ops.workflows.facts import collect_facts
from hololoom_core.ops.workflows.library import WorkflowLibrary
from hololoom_core.ops.workflows.schema import Op, WorkflowDefinition
from hololoom_core.ops.workflows.steps import SIDE_EFFECT_KINDS, StepError, StepResult, StepRunner
from hololoom_core.ops.workflows.store import ACTIVE_STATUSES, RunRecord, RunStore
from hololoom_core.ops.workflows.triggers import TriggerDispatcher
from hololoom_core.redact import redact_secrets
from hololoom_core.rooms import RoomScope
from hololoom_core.text.durations import format_duration

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

log = logging.getLogger(__name__)

# Workflows executing in the current task: their own events must not trigger them again.
ACTIVE_WORKFLOWS: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "hololoom_active_workflows", default=frozenset()
)
CLOSE_GRACE_SECONDS = 5.0
_RUN_REF = re.compile(r"^(?:wf-?|#)?(\d+)$", re.I)

FINISH_LINES = {
    "succeeded": "✔ {label} `{workflow}` finished.",
    "failed": "✖ {label} `{workflow}` failed: {error}",
    "denied": "🛑 {label} `{workflow}` stopped: {error}.",
    "timed_out": "⌛ {label} `{workflow}` stopped: {error}.",
    "cancelled": "✖ {label} `{workflow}` {error}.",
}


class WorkflowError(CommandError):
    """A workflow request that cannot be done (unknown workflow or run, bad arguments, not allowed): one line."""


def parse_run_ref(reference: str) -> int:
    """`12`, `#12` or `WF-12` as a run id."""
    match = _RUN_REF.match(reference.strip())
    if match is None:
        raise WorkflowError(f"'{reference}' is not a run id; use the number shown as WF-N, for example 12")
    return int(match.group(1))


def user_matches(user: str, patterns: list[str]) -> bool:
    """True when a user id matches a glob; a pattern without `:` also matches the Matrix localpart."""
    user = user.lower()
    localpart = user[1:].split(":", 1)[0] if user.startswith("@") else user
    for pattern in patterns:
        pattern = pattern.lower()
        if fnmatchcase(user, pattern):
            return True
        if ":" not in pattern and fnmatchcase(localpart, pattern.lstrip("@")):
            return True
    return False


class WorkflowService:
    """Runs workflows for one engine; every state change is persisted before the next step starts."""

    def __init__(self, engine: Engine, library: WorkflowLibrary) -> None:
        self.engine = engine
        self.config = engine.config.workflows
        self.library = library
        self.runs = RunStore(engine.store)
        self.steps = StepRunner(self)
        self.triggers = TriggerDispatcher(self)
        self.owner = uuid.uuid4().hex
        self.prefix = engine.config.bot.command_prefix
        self.started_ts: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._executing: set[int] = set()
        self._scheduler: asyncio.Task[None] | None = None
        self._tick_lock: asyncio.Lock | None = None

    # -- time ------------------------------------------------------------------------------

    def now(self) -> float:
        """The engine clock (injectable in tests)."""
        return self.engine.clock.now()

    def lease(self) -> float:
        """When a lease taken now runs out."""
        return self.now() + self.config.lease_seconds

    # -- public API ------------------------------------------------------------------------

    async def start_run(
        self, name: str, args: dict[str, str], *, user: str, room_id: str, thread_id: str | None = None,
        trigger: str = "command",
    ) -> str:
        """Start workflow `name` for `user` and run it until it pauses or ends; returns the Markdown to reply with.

        A run asked for from chat is checked first: `user` must be allowed `workflow run` and every command
        the workflow's steps do (see `authority.py`); trigger `cli` is the local operator, who may run all.
        """
        definition = self.definition(name)
        if authority_for(trigger) == USER:
            self.authorize(definition, user, room_id)
        run, out = await self.launch(definition, args, user=user, room_id=room_id, thread_id=thread_id,
                                     trigger=trigger)
        return "\n\n".join(out)

    def authorize(self, definition: WorkflowDefinition, user: str, room_id: str) -> None:
        """Raise `WorkflowError` unless `user` may start `definition` in `room_id` and do what each step does."""
        decision = self.engine.commands.decide(self.engine, "workflow run", user, room_id)
        if not decision.allowed:
            raise WorkflowError(f"Sorry, {decision.reason} (`{definition.name}` is a workflow)")
        refusal = self.step_refusal(definition.name, definition.program, user, room_id)
        if refusal:
            raise WorkflowError(f"Sorry, {refusal}")

    def step_commands(self, program: list[Op], seen: frozenset[str] = frozenset()) -> list[str]:
        """The commands the steps of `program` (and of the workflows it calls) do, each once, in order."""
        found: list[str] = []
        for op in program:
            called = self.library.get(str(op.value)) if op.kind == "call" and op.value not in seen else None
            commands = self.step_commands(called.program, seen | {called.name}) if called is not None else \
                [command for command in (step_command(op),) if command]
            found += [command for command in commands if command not in found]
        return found

    def step_refusal(self, name: str, program: list[Op], user: str, room_id: str,
                     seen: frozenset[str] = frozenset()) -> str | None:
        """Why `user` may not do what some step of `program` (or of a workflow it calls) does, or None."""
        for op in program:
            if op.kind == "call" and op.value not in seen and len(seen) < self.config.max_call_depth:
                called = self.library.get(str(op.value))
                if called is not None:
                    refusal = self.step_refusal(called.name, called.program, user, room_id, seen | {name})
                    if refusal:
                        return refusal
                continue
            command = step_command(op)
            if command is None:
                continue
            decision = self.engine.commands.decide(self.engine, command, user, room_id,
                                                   permission=STEP_PERMISSIONS.get(op.kind))
            if not decision.allowed:
                return (f"`{name}` step {op.label} (line {op.line}) does `{command}`, and {decision.reason}; "
                        "a workflow runs with the permissions of whoever starts it")
        return None

    def definition(self, name: str) -> WorkflowDefinition:
        """The workflow with this name, or a `WorkflowError` that lists the closest names."""
        definition = self.library.get(name)
        if definition is None:
            import difflib

            close = difflib.get_close_matches(name, list(self.library.definitions), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
            raise WorkflowError(f"No workflow `{name}`.{hint} See `{self.prefix}workflow list`")
        return definition

    def waiting_for_approval(self) -> list[dict[str, Any]]:
        """Runs paused at an approval gate, oldest first, for the dashboard and `!workflow list`."""
        result = []
        for run in reversed(self.runs.recent(500, statuses=("waiting_approval",))):
            waiting = run.waiting
            result.append({
                "run_id": run.id,
                "label": run.label,
                "workflow": run.workflow,
                "prompt": waiting.get("prompt", ""),
                "approvers": list(waiting.get("approvers", [])),
                "requested_by": run.started_by,
                "room_id": run.room_id,
                "thread_id": run.thread_id,
                "requested_ts": waiting.get("requested_ts"),
                "deadline_ts": run.wake_ts,
            })
        return result

    def get_run(self, reference: str | int) -> RunRecord:
        """A run with its step log, by id or `WF-N`."""
        run_id = reference if isinstance(reference, int) else parse_run_ref(reference)
        run = self.runs.get(run_id, with_steps=True)
        if run is None:
            raise WorkflowError(f"No run WF-{run_id}. See `{self.prefix}workflow status` for recent runs")
        return run

    async def approve(self, reference: str, *, user: str, room_id: str, comment: str = "") -> str:
        """Approve the run's pending gate and continue it; returns the reply."""
        return await self._decide(reference, user=user, room_id=room_id, approved=True, comment=comment)

    async def deny(self, reference: str, *, user: str, room_id: str, comment: str = "") -> str:
        """Deny the run's pending gate; the run stops unless the step says `on_deny: continue`."""
        return await self._decide(reference, user=user, room_id=room_id, approved=False, comment=comment)

    async def cancel(self, reference: str, *, user: str, room_id: str) -> str:
        """Stop a paused run (its starter or an admin)."""
        run = self.get_run(reference)
        if run.finished:
            raise WorkflowError(f"{run.label} already ended ({run.status})")
        if user != run.started_by and not self.engine.access.is_admin(user):
            raise WorkflowError(f"only {run.started_by} (who started {run.label}) or an admin may cancel it")
        paused = tuple(status for status in ACTIVE_STATUSES if status != "running")
        if not self.runs.claim(run.id, paused, self.owner, self.lease(), self.now()):
            raise WorkflowError(f"{run.label} is busy running a step; try again in a moment")
        run = self.get_run(run.id)
        out: list[str] = []
        for child in self.runs.children(run.id):
            if not child.finished and self.runs.claim(child.id, paused, self.owner, self.lease(), self.now()):
                child.status = "running"
                self.runs.save_progress(child, status="cancelled", pc=child.pc, variables=child.variables,
                                        now=self.now(), error=f"cancelled with {run.label} by {user}", release=True)
        await self.finish(run, "cancelled", out, error=f"cancelled by {user}")
        return self._deliver(run, room_id, out)

    # -- starting runs ---------------------------------------------------------------------

    def bind_args(self, definition: WorkflowDefinition, args: dict[str, str]) -> dict[str, str]:
        """Check arguments against the params: unknown names, missing required values, choices."""
        names = [param.name for param in definition.params]
        for key in args:
            if definition.param(key) is None:
                takes = ", ".join(names) if names else "no arguments"
                raise WorkflowError(f"`{definition.name}` has no argument '{key}' (it takes: {takes})")
        values: dict[str, str] = {}
        missing = []
        for param in definition.params:
            if param.name in args and str(args[param.name]) != "":
                value = str(args[param.name])
            elif param.default is not None:
                value = param.default
            elif param.required:
                missing.append(param.name)
                continue
            else:
                value = ""
            if param.choices and value not in param.choices and value != "":
                raise WorkflowError(f"`{definition.name}`: {param.name} must be one of "
                                    f"{', '.join(param.choices)} (got '{value}')")
            values[param.name] = value
        if missing:
            raise WorkflowError(f"`{definition.name}` needs {', '.join(missing)} "
                                f"(usage: `{self.prefix}workflow run {definition.name} {definition.usage}`)")
        return values

    async def launch(
        self, definition: WorkflowDefinition, args: dict[str, str], *, user: str, room_id: str,
        thread_id: str | None, trigger: str, trigger_vars: dict[str, Any] | None = None,
        parent: RunRecord | None = None, out: list[str] | None = None,
    ) -> tuple[RunRecord, list[str]]:
        """Create a run (claimed by this engine) and execute it until it pauses or ends."""
        params = self.bind_args(definition, args)
        now = self.now()
        authority = authority_for(trigger, authority_of(parent.variables) if parent is not None else None)
        variables: dict[str, Any] = {
            **params,
            "run": {"workflow": definition.name, "user": user, "room": room_id, "thread": thread_id,
                    "trigger": trigger, "started": datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="seconds"),
                    "authority": authority},
            "trigger": {"kind": trigger, **(trigger_vars or {})},
            "workflow": {"name": definition.name, "description": definition.description},
        }
        run_id = self.runs.create(
            workflow=definition.name, source=definition.source, fingerprint=definition.fingerprint,
            program=definition.program, trigger=trigger, started_by=user, room_id=room_id, thread_id=thread_id,
            variables=variables, parent_run_id=parent.id if parent else None,
            depth=parent.depth + 1 if parent else 0, owner=self.owner, lease_ts=self.lease(), now=now,
        )
        run = self.runs.get(run_id)
        assert run is not None
        out = out if out is not None else []
        shown = ", ".join(f"{key}={value}" for key, value in params.items() if value)
        via = "" if trigger in ("command", "cli") else f" ({trigger})"
        out.append(redact_secrets(f"▶ {run.label} `{definition.name}` started by {user}{via}"
                                  f"{' with ' + shown if shown else ''}.").text)
        self._publish(run, "started")
        await self.run_slice(run, out)
        return run, out

    async def start_child(self, parent: RunRecord, definition: WorkflowDefinition, args: dict[str, str],
                          out: list[str]) -> RunRecord:
        """Start a called workflow inside the caller's slice; returns the child as it stands afterwards."""
        try:
            child, _ = await self.launch(definition, args, user=parent.started_by, room_id=parent.room_id,
                                         thread_id=parent.thread_id, trigger="call",
                                         trigger_vars={"caller": parent.label}, parent=parent, out=out)
        except WorkflowError as exc:
            raise ValueError(str(exc))
        refreshed = self.runs.get(child.id)
        assert refreshed is not None
        return refreshed

    def child_result(self, parent: RunRecord, op: Op, child: RunRecord) -> StepResult:
        """Turn a finished child run into the `call` step's result (or a `StepError`)."""
        if child.status != "succeeded":
            raise StepError(f"{child.label} (`{child.workflow}`) ended {child.status}: {child.error or 'no detail'}")
        if op.options.get("save_as"):
            parent.variables[op.options["save_as"]] = {
                "ok": True, "run": child.label, "status": child.status,
                "vars": {key: value for key, value in child.variables.items()
                         if key not in ("run", "trigger", "workflow")},
            }
        return StepResult(detail=f"{child.label} ({child.workflow}) finished")

    # -- executing -------------------------------------------------------------------------

    async def run_slice(self, run: RunRecord, out: list[str]) -> None:
        """Execute steps from the run's program counter until it pauses or ends, persisting after each step."""
        self._executing.add(run.id)
        token = ACTIVE_WORKFLOWS.set(ACTIVE_WORKFLOWS.get() | {run.workflow})
        try:
            while True:
                if run.pc >= len(run.program):
                    await self.finish(run, "succeeded", out)
                    return
                if run.steps_done >= self.config.max_steps_per_run:
                    await self.finish(run, "failed", out, error=f"more than {self.config.max_steps_per_run} steps "
                                      "(workflows.max_steps_per_run)")
                    return
                op = run.program[run.pc]
                now = self.now()
                # Side effects are logged as started first, so a restart can tell they may have happened.
                step_id = self.runs.log_step(run.id, run.pc, op, "started", "", now) \
                    if op.kind in SIDE_EFFECT_KINDS else 0
                try:
                    result = await self.steps.execute(run, op, out)
                except StepError as exc:
                    self._record_step(run, op, step_id, "failed", str(exc))
                    run.steps_done += 1
                    if not await self._step_failed(run, op, str(exc), out):
                        return
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug in a step must not kill the engine; the run fails visibly
                    log.exception("workflow step crashed in %s", run.label)
                    self._record_step(run, op, step_id, "failed", f"{type(exc).__name__}: {exc}")
                    await self.finish(run, "failed", out, error=f"step {op.label} ({op.kind}, line {op.line}) "
                                      f"crashed: {type(exc).__name__}: {exc}")
                    return
                run.steps_done += 1
                if result.finish:
                    self._record_step(run, op, step_id, "ok", result.detail)
                    await self.finish(run, result.finish, out, error=result.error)
                    return
                with self.runs.store.transaction():  # the step's log entry and the new position commit together
                    if op.kind != "jump":
                        self._record_step(run, op, step_id, "waiting" if result.pause else "ok", result.detail)
                    if result.pause:
                        self.runs.save_progress(run, status=result.pause, pc=run.pc, variables=run.variables,
                                                now=self.now(), waiting=result.waiting, wake_ts=result.wake_ts,
                                                release=True)
                    else:
                        next_pc = result.next_pc if result.next_pc is not None else run.pc + 1
                        self.runs.save_progress(run, status="running", pc=next_pc, variables=run.variables,
                                                now=self.now(), lease_ts=self.lease())
                if result.pause:
                    self._publish(run, result.pause, result.detail)
                    return
        finally:
            ACTIVE_WORKFLOWS.reset(token)
            self._executing.discard(run.id)

    def _record_step(self, run: RunRecord, op: Op, step_id: int, status: str, detail: str) -> None:
        """Complete the step's `started` log entry, or add its entry now."""
        if step_id:
            self.runs.finish_step(step_id, status, detail, self.now())
        else:
            self.runs.log_step(run.id, run.pc, op, status, detail, self.now())

    async def _step_failed(self, run: RunRecord, op: Op, error: str, out: list[str]) -> bool:
        """Apply a failed step's `on_error`; True when the run goes on."""
        where = f"step {op.label} ({op.kind}, line {op.line})"
        if op.options.get("on_error") == "continue":
            run.variables["last_error"] = error
            if op.options.get("save_as"):
                run.variables[op.options["save_as"]] = {"ok": False, "error": error}
            elif op.kind == "incident" and op.value == "declare":
                run.variables["incident"] = {"ok": False, "error": error}
            self.runs.save_progress(run, status="running", pc=run.pc + 1, variables=run.variables, now=self.now(),
                                    lease_ts=self.lease())
            return True
        await self.finish(run, "failed", out, error=f"{where}: {error}")
        return False

    async def finish(self, run: RunRecord, status: str, out: list[str], error: str | None = None) -> None:
        """End a run, say so, and resume the run that called it, if any."""
        self.runs.save_progress(run, status=status, pc=run.pc, variables=run.variables, now=self.now(),
                                error=error, release=True)
        out.append(redact_secrets(FINISH_LINES[status].format(label=run.label, workflow=run.workflow,
                                                              error=error or "")).text)
        self._publish(run, status, error or "")
        if run.parent_run_id is not None:
            await self._resume_parent(run, out)

    async def _resume_parent(self, child: RunRecord, out: list[str]) -> None:
        parent = self.runs.get(child.parent_run_id or 0)
        if parent is None or parent.status != "waiting_child" or parent.waiting.get("child_run_id") != child.id:
            return
        if not self.runs.claim(parent.id, ("waiting_child",), self.owner, self.lease(), self.now()):
            return
        parent = self.runs.get(parent.id)
        assert parent is not None
        op = parent.program[parent.pc]
        try:
            result = self.child_result(parent, op, child)
        except StepError as exc:
            self.runs.log_step(parent.id, parent.pc, op, "failed", str(exc), self.now())
            if not await self._step_failed(parent, op, str(exc), out):
                return
        else:
            self.runs.log_step(parent.id, parent.pc, op, "ok", result.detail, self.now())
            self.runs.save_progress(parent, status="running", pc=parent.pc + 1, variables=parent.variables,
                                    now=self.now(), lease_ts=self.lease())
        await self.run_slice(parent, out)

    # -- approvals -------------------------------------------------------------------------

    def is_approver(self, user: str, approvers: list[str]) -> bool:
        """True when `user` is one of a gate's approvers: a named user or glob, `admins`, or `group:NAME` (the
        users listed under `acl.permissions.NAME`)."""
        for approver in approvers:
            if approver == ADMINS:
                if self.engine.access.is_admin(user):
                    return True
            elif approver.startswith(GROUP_PREFIX):
                members = self.engine.config.acl.permissions.get(approver[len(GROUP_PREFIX):].strip(), [])
                if user_matches(user, members):
                    return True
            elif user_matches(user, [approver]):
                return True
        return False

    def _refusal(self, run: RunRecord, user: str, approved: bool) -> str | None:
        """Why `user` may not decide the run's gate, or None.

        The starter may always deny (withdraw) but approves only when the step says `self_approval: true`.
        Named approvers (and admins) decide; a gate that names none is decided by someone who could have
        started the workflow and done each of its steps themselves, so a second person is a permitted one.
        """
        waiting = run.waiting
        is_starter = user == run.started_by
        if is_starter and not approved:
            return None
        if is_starter and waiting.get("self_approval", False) is not True:
            return f"you started {run.label}, so someone else must approve it"
        if self.engine.access.is_admin(user):
            return None
        approvers = list(waiting.get("approvers") or [])
        if approvers:
            if not self.is_approver(user, approvers):
                return f"you are not an approver of {run.label} (approvers: {', '.join(approvers)})"
            return None
        decision = self.engine.commands.decide(self.engine, "workflow run", user, run.room_id)
        refusal = None if decision.allowed else decision.reason
        refusal = refusal or self.step_refusal(run.workflow, run.program, user, run.room_id)
        if refusal:
            return f"you may not decide {run.label}: {refusal}"
        return None

    async def _decide(self, reference: str, *, user: str, room_id: str, approved: bool, comment: str) -> str:
        run = self.get_run(reference)
        if run.status != "waiting_approval":
            raise WorkflowError(f"{run.label} is not waiting for approval (it is {run.status.replace('_', ' ')})")
        refusal = self._refusal(run, user, approved)
        if refusal:
            raise WorkflowError(f"Sorry, {refusal}")
        now = self.now()
        if not self.runs.claim(run.id, ("waiting_approval",), self.owner, self.lease(), now):
            raise WorkflowError(f"{run.label} was decided by someone else a moment ago")
        run = self.get_run(run.id)
        waiting = run.waiting
        decision = "approved" if approved else "denied"
        op = run.program[run.pc]
        approved_by = [str(name) for name in waiting.get("approved_by", [])]
        needed = int(waiting.get("approvals", 1) or 1)
        if approved and user in approved_by:
            self.runs.save_progress(run, status="waiting_approval", pc=run.pc, variables=run.variables, now=now,
                                    waiting=waiting, wake_ts=run.wake_ts, release=True)
            raise WorkflowError(f"Sorry, you already approved {run.label}; it needs {needed} different people")
        if approved and len(approved_by) + 1 < needed:  # a gate that needs more distinct approvers waits on
            approved_by.append(user)
            self.runs.log_step(run.id, run.pc, op, "approved", f"{len(approved_by)} of {needed}: {comment}", now,
                               actor=user)
            self.runs.save_progress(run, status="waiting_approval", pc=run.pc, variables=run.variables, now=now,
                                    waiting={**waiting, "approved_by": approved_by}, wake_ts=run.wake_ts,
                                    release=True)
            return (f"☑️ {run.label}: approval {len(approved_by)} of {needed} by {user}; waiting for "
                    f"{needed - len(approved_by)} more.")
        if approved and approved_by:
            user_list = ", ".join([*approved_by, user])
        else:
            user_list = user
        self.runs.log_step(run.id, run.pc, op, decision, comment, now, actor=user)
        save_as = waiting.get("save_as", "approval")
        run.variables.update({save_as: decision, f"{save_as}_by": user_list, f"{save_as}_comment": comment})
        note = f" — “{comment}”" if comment else ""
        out = [f"{'✅' if approved else '🛑'} {run.label} {decision} by {user_list}{note}."]
        if approved or waiting.get("on_deny") == "continue":
            run.pc += 1
            self.runs.save_progress(run, status="running", pc=run.pc, variables=run.variables, now=now,
                                    lease_ts=self.lease())
            await self.run_slice(run, out)
        else:
            await self.finish(run, "denied", out, error=f"denied by {user}")
        return self._deliver(run, room_id, out)

    def _deliver(self, run: RunRecord, room_id: str, out: list[str]) -> str:
        """The reply for whoever acted; when they acted from another room, the run's room hears it too."""
        text = "\n\n".join(out)
        if room_id != run.room_id:
            self.post(run.room_id, run.thread_id, text)
            return f"{out[0]} Its output is posted in {run.room_id}."
        return text

    # -- scheduler, timers and restarts ----------------------------------------------------

    async def start(self) -> None:
        """Engine start hook: resume runs a stopped engine left running, then start the scheduler."""
        self.started_ts = self.now()
        for run_id in self.runs.resumable(self.now()):
            await self._resume_running(run_id)
        if self.config.enabled and self._scheduler is None:
            loop = run_every(self.engine, self.config.tick_seconds, self.tick, where="workflows", what="scheduler",
                             wait_first=True)
            self._scheduler = asyncio.get_running_loop().create_task(loop, name="hololoom-workflow-scheduler")

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the triggered runs started so far (until they finish or pause)."""
        while self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            if pending:
                return

    async def close(self) -> None:
        """Engine close hook: let triggered runs reach a pause (briefly), stop the scheduler, release leases.

        A run still executing is cancelled and stays `running` without an owner; the next engine resumes it.
        """
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
            self._scheduler = None
        if self._tasks:
            await self.drain(timeout=CLOSE_GRACE_SECONDS)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.runs.release_owned(self.owner)

    async def tick(self) -> int:
        """Fire due timers and approval timeouts, recover runs whose engine died, and fire cron triggers."""
        if self._tick_lock is None:
            self._tick_lock = asyncio.Lock()
        async with self._tick_lock:
            handled = 0
            now = self.now()
            for run_id, status in self.runs.due(now):
                if run_id in self._executing or not self.runs.claim(run_id, (status,), self.owner, self.lease(), now):
                    continue
                run = self.runs.get(run_id)
                assert run is not None
                out: list[str] = []
                if status == "waiting_timer":
                    self.runs.log_step(run.id, run.pc, run.program[run.pc], "ok", "timer fired", now)
                    run.pc += 1
                    await self.run_slice(run, out)
                else:
                    await self._approval_timed_out(run, out)
                self.post(run.room_id, run.thread_id, "\n\n".join(out))
                handled += 1
            if self.started_ts is not None:
                for run_id in self.runs.resumable(now):
                    if run_id not in self._executing:
                        handled += await self._resume_running(run_id)
            handled += await self.triggers.fire_schedules(now)
            return handled

    async def _approval_timed_out(self, run: RunRecord, out: list[str]) -> None:
        waiting = run.waiting
        op = run.program[run.pc]
        waited = format_duration(float(waiting.get("timeout_s", 0)))
        self.runs.log_step(run.id, run.pc, op, "timed_out", f"no decision within {waited}", self.now())
        save_as = waiting.get("save_as", "approval")
        run.variables[save_as] = "timed_out"
        out.append(f"⌛ {run.label}: no decision on “{waiting.get('prompt', '')}” within {waited}.")
        if waiting.get("on_timeout") == "continue":
            run.pc += 1
            self.runs.save_progress(run, status="running", pc=run.pc, variables=run.variables, now=self.now(),
                                    lease_ts=self.lease())
            await self.run_slice(run, out)
        else:
            await self.finish(run, "timed_out", out, error=f"approval timed out after {waited}")

    async def _resume_running(self, run_id: int) -> int:
        """Continue a run left `running`; a side-effect step cut off mid-way is not repeated."""
        now = self.now()
        if not self.runs.claim(run_id, ("running",), self.owner, self.lease(), now):
            return 0
        run = self.runs.get(run_id)
        assert run is not None
        out = [f"↻ {run.label} `{run.workflow}` resumes after a restart."]
        last = self.runs.last_step(run.id)
        if last is not None and last["status"] == "started":
            self.runs.finish_step(last["id"], "interrupted", "the engine stopped during this step", now)
            if last["kind"] in SIDE_EFFECT_KINDS and last["pc"] == run.pc:
                await self.finish(run, "failed", out, error=(
                    f"step {last['label']} ({last['kind']}, line {last['line']}) was interrupted by a restart and "
                    "is not repeated automatically; check what it did, then run the workflow again"))
                self.post(run.room_id, run.thread_id, "\n\n".join(out))
                return 1
        await self.run_slice(run, out)
        self.post(run.room_id, run.thread_id, "\n\n".join(out))
        return 1

    # -- output, facts, variables ----------------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background; it is cancelled when the engine closes."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def post(self, room_id: str, thread_id: str | None, text: str) -> None:
        """Say something in a room outside a command reply (timers, triggers, approvals from elsewhere)."""
        if not text.strip():
            return
        self.engine.say(room_id, text, kind="workflow", thread_id=thread_id)

    def collect(self, what: str, *, since: float, scope: RoomScope, kinds: list[str], limit: int) -> dict[str, Any]:
        """Facts for digests (see `facts.collect_facts`)."""
        return collect_facts(self, what, since=since, scope=scope, kinds=kinds, limit=limit)

    def read_scope(self, run: RunRecord, room: str) -> RoomScope:
        """The rooms a run may read when a step asks for `room` (`*` or empty: all it may read).

        The operator's runs read what they ask for; others read as their starter would from the run's room
        (rooms are walls), and a room outside that is refused with one line.
        """
        wanted = None if room in ("*", "") else room
        if authority_of(run.variables) == OPERATOR:
            return RoomScope.everything().narrowed(wanted)
        scope = self.engine.room_scope(run.room_id)
        if wanted is not None and not scope.allows(wanted):
            raise WorkflowError(f"{wanted} is not readable from {run.room_id} (it reads {scope.describe()}; "
                                "memory.shared_rooms shares rooms)")
        return scope.narrowed(wanted)

    def variables_for(self, run: RunRecord) -> dict[str, Any]:
        """What templates and conditions see: the run's variables, its id and label, and the time."""
        now = datetime.fromtimestamp(self.now(), tz=UTC)
        run_info = {**run.variables.get("run", {}), "id": run.id, "label": run.label, "status": run.status}
        return {**run.variables, "run": run_info, "now": now.strftime("%Y-%m-%d %H:%M UTC"),
                "today": now.strftime("%A %Y-%m-%d")}

    def _publish(self, run: RunRecord, status: str, detail: str = "") -> None:
        self.engine.bus.publish(WorkflowRunChanged(run.id, run.workflow, status, run.room_id, detail[:300]))
