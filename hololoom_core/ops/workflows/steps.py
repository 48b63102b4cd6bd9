"""What each workflow step does: say, ask, set, branch, wait, call, incident, http, shell, collect, fail.

Every step gets the run and its op and returns a `StepResult` (go on, jump, pause or finish); a
problem raises `StepError` with one line, which the run applies `on_error` to.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from hololoom_core.engine.commands import CommandError
from hololoom_core.ops.workflows.authority import (
    OPERATOR,
    PROACTIVE,
    STEP_PERMISSIONS,
    authority_of,
    checked_approver,
    step_command,
)
from hololoom_core.ops.workflows.expressions import (
    ExpressionError,
    parse_expression,
    parse_template,
    render_value,
    split_command,
)
from hololoom_core.ops.workflows.incidents import IncidentActions, incident_id_of, settle
from hololoom_core.ops.workflows.policy import host_allowed, shell_allowed
from hololoom_core.ops.workflows.schema import Op
from hololoom_core.ops.workflows.store import RunRecord
from hololoom_core.redact import redact_secrets
from hololoom_core.subprocesses import ProgramError, run_program
from hololoom_core.text.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from hololoom_core.ops.workflows.service import WorkflowService

SIDE_EFFECT_KINDS = ("http", "shell", "incident", "call")
_MAX_OUTPUT = 4000


class StepError(Exception):
    """A step that could not do its job; the message is one line."""


@dataclass(slots=True)
class StepResult:
    """What a step decided: continue (optionally at `next_pc`), pause in a waiting status, or finish the run."""

    detail: str = ""
    next_pc: int | None = None
    pause: str | None = None
    waiting: dict[str, Any] = field(default_factory=dict)
    wake_ts: float | None = None
    finish: str | None = None
    error: str | None = None


def clock_text(ts: float, now: float) -> str:
    """`14:05 UTC` for a time on the same day as `now`, with the date otherwise."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    same_day = moment.date() == datetime.fromtimestamp(now, tz=UTC).date()
    return moment.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC")


class StepRunner:
    """Runs single steps for the workflow service."""

    def __init__(self, service: WorkflowService) -> None:
        self.service = service

    async def execute(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Run one op of `run`; raises `StepError` when it fails."""
        handler = getattr(self, f"step_{op.kind}", None)
        if handler is None:
            raise StepError(f"unknown step kind '{op.kind}'")
        try:
            return await handler(run, op, out)
        except ExpressionError as exc:
            raise StepError(str(exc))

    # -- helpers ---------------------------------------------------------------------------

    def variables(self, run: RunRecord) -> dict[str, Any]:
        """The run's variables plus the time."""
        return self.service.variables_for(run)

    def render(self, run: RunRecord, text: Any) -> str:
        """A template rendered with the run's variables."""
        return parse_template(str(text)).render(self.variables(run))

    def value(self, run: RunRecord, raw: Any) -> Any:
        """A nested value with every string rendered (a lone placeholder keeps its type)."""
        if isinstance(raw, str):
            return parse_template(raw).value(self.variables(run))
        if isinstance(raw, list):
            return [self.value(run, item) for item in raw]
        if isinstance(raw, dict):
            return {key: self.value(run, item) for key, item in raw.items()}
        return raw

    def seconds(self, run: RunRecord, raw: Any) -> float:
        """A duration, rendered first when it is a template."""
        if isinstance(raw, str) and "{{" in raw:
            raw = self.render(run, raw)
        try:
            return parse_duration(raw)
        except ValueError as exc:
            raise StepError(str(exc))

    def require(self, run: RunRecord, op: Op) -> None:
        """Refuse a step its run's starter could not do by hand (the operator's runs may do anything)."""
        command = step_command(op)
        if command is None or authority_of(run.variables) == OPERATOR:
            return
        engine = self.service.engine
        decision = engine.commands.decide(engine, command, run.started_by, run.room_id,
                                          permission=STEP_PERMISSIONS.get(op.kind))
        if not decision.allowed:
            raise StepError(f"`{command}` refused for {run.started_by}: {decision.reason}")

    # -- steps -----------------------------------------------------------------------------

    async def step_say(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Post text: into the run's output, or into another room when `room:` names one."""
        text = redact_secrets(self.render(run, op.value)).text.strip()
        room = self.render(run, op.options["room"]).strip() if op.options.get("room") else run.room_id
        if room != run.room_id:
            self.service.post(room, None, text)
        else:
            out.append(text)
        return StepResult(detail=text[:300])

    async def step_set(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Set variables."""
        values = {name: self.value(run, raw) for name, raw in op.value.items()}
        run.variables.update(values)
        return StepResult(detail=", ".join(f"{name}={render_value(value)[:60]}" for name, value in values.items()))

    async def step_branch(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Go into `then` when the condition holds, else jump past it."""
        holds = parse_expression(str(op.value)).truth(self.variables(run))
        return StepResult(detail=f"{op.value} → {'true' if holds else 'false'}",
                          next_pc=run.pc + 1 if holds else op.target)

    async def step_jump(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Skip the `else` steps after a `then` branch ran."""
        return StepResult(next_pc=op.target)

    async def step_wait(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Pause the run for a while; the scheduler resumes it."""
        seconds = self.seconds(run, op.value)
        if seconds <= 0:
            return StepResult(detail="no wait")
        now = self.service.now()
        wake = now + seconds
        out.append(f"⏳ {run.label} waits {format_duration(seconds)} (until {clock_text(wake, now)}).")
        return StepResult(detail=f"waiting {format_duration(seconds)}", pause="waiting_timer",
                          waiting={"kind": "timer", "seconds": seconds}, wake_ts=wake)

    async def step_ask(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """An approval gate: pause until an allowed person approves or denies, or the timeout passes."""
        prompt = redact_secrets(self.render(run, op.value)).text.strip()
        approvers: list[str] = []
        for raw in op.options.get("approvers", []):
            try:
                approver = checked_approver(str(raw), self.render(run, raw).strip())
            except ValueError as exc:
                raise StepError(str(exc))
            if approver:
                approvers.append(approver)
        timeout = self.seconds(run, op.options.get("timeout", self.service.config.default_approval_timeout))
        now = self.service.now()
        deadline = now + timeout
        prefix = self.service.prefix
        self_approval = op.options.get("self_approval", False) is True
        needed = int(op.options.get("approvals", 1))
        who = ", ".join(approvers) if approvers else f"anyone allowed to run `{run.workflow}` themselves"
        if needed > 1:
            who = f"{needed} different people among {who}"
        if not self_approval:
            who += f" (not {run.started_by}, who started it)"
        out.append(
            f"⏸ **Approval needed** for {run.label} (`{run.workflow}`): {prompt}\n"
            f"Approvers: {who}. Reply `{prefix}workflow approve {run.id}` or `{prefix}workflow deny {run.id}` "
            f"within {format_duration(timeout)} (by {clock_text(deadline, now)})."
        )
        waiting = {
            "kind": "approval",
            "prompt": prompt,
            "approvers": approvers,
            "self_approval": self_approval,
            "approvals": needed,
            "approved_by": [],
            "on_deny": op.options.get("on_deny", "stop"),
            "on_timeout": op.options.get("on_timeout", "stop"),
            "save_as": op.options.get("save_as", "approval"),
            "timeout_s": timeout,
            "requested_ts": now,
            "deadline_ts": deadline,
        }
        return StepResult(detail=f"waiting for approval: {prompt[:200]}", pause="waiting_approval",
                          waiting=waiting, wake_ts=deadline)

    async def step_call(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Run another workflow as part of this one; this run waits when the other one pauses."""
        definition = self.service.library.get(str(op.value))
        if definition is None:
            raise StepError(f"there is no workflow '{op.value}' to call")
        if run.depth + 1 > self.service.config.max_call_depth:
            raise StepError(f"calls nest deeper than workflows.max_call_depth ({self.service.config.max_call_depth})")
        arguments = {name: render_value(value) for name, value in self.value(run, op.options.get("with", {})).items()}
        try:
            child = await self.service.start_child(run, definition, arguments, out)
        except ValueError as exc:
            raise StepError(str(exc))
        if not child.finished:
            return StepResult(detail=f"waiting for {child.label} ({definition.name})", pause="waiting_child",
                              waiting={"kind": "child", "child_run_id": child.id})
        return self.service.child_result(run, op, child)

    async def step_incident(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Declare, update, assign a role in, or resolve an incident through the incident service."""
        service = self.service.engine.find_capability(IncidentActions)
        if service is None:
            raise StepError("incident steps need the incident service, which this engine does not have")
        action = str(op.value)
        user = run.started_by
        options = {key: self.render(run, value).strip() for key, value in op.options.items()
                   if key in ("title", "severity", "id", "role", "user", "conditions", "actions", "needs", "summary")}
        if action == "declare" and authority_of(run.variables) == PROACTIVE:
            severity = options.get("severity") or "sev3"
            command = f"`{self.service.prefix}incident declare \"{options.get('title', '')}\" {severity}`"
            out.append(f"💡 This looks like an incident. I do not declare one on my own; someone allowed to "
                       f"declare incidents can confirm with {command}")
            raise StepError(f"not declared: a run started by a {run.trigger} only suggests declaring ({command})")
        self.require(run, op)
        save_as = op.options.get("save_as", "incident" if action == "declare" else None)
        try:
            if action == "declare":
                severity = options.get("severity") or "sev3"
                result = await settle(service.declare(options["title"], severity=severity, user=user, room_id=run.room_id,
                                                      thread_id=run.thread_id))
                incident_id = incident_id_of(result)
                if not incident_id:
                    raise StepError("the incident service did not return an incident id")
                detail = f"declared {incident_id} ({severity}): {options['title']}"
                value: dict[str, Any] = {"ok": True, "id": incident_id, "title": options["title"], "severity": severity}
            else:
                incident_id = options.get("id") or self._current_incident(run)
                if action == "status":
                    await settle(service.status_update(incident_id, user=user, conditions=options.get("conditions", ""),
                                                       actions=options.get("actions", ""),
                                                       needs=options.get("needs", "")))
                    detail = f"status update on {incident_id}"
                elif action == "role":
                    await settle(service.set_role(incident_id, options["role"], options["user"], user=user))
                    detail = f"{options['user']} is {options['role']} of {incident_id}"
                else:
                    await settle(service.resolve(incident_id, user=user, text=options.get("summary", "")))
                    detail = f"resolved {incident_id}"
                value = {"ok": True, "id": incident_id}
        except StepError:
            raise
        except Exception as exc:  # the incident service's refusal or bug becomes this step's one-line error
            raise StepError(f"incident {action} failed ({type(exc).__name__}: {exc})")
        if save_as:
            run.variables[save_as] = value
        return StepResult(detail=detail)

    def _current_incident(self, run: RunRecord) -> str:
        incident = run.variables.get("incident")
        if isinstance(incident, dict) and incident.get("id"):
            return str(incident["id"])
        if isinstance(incident, str) and incident:
            return incident
        raise StepError("no incident id: give id: or declare an incident earlier in the workflow")

    async def step_http(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Call an HTTP endpoint on an allow-listed host (no redirects followed)."""
        self.require(run, op)
        spec = op.value
        url = self.render(run, spec["url"]).strip()
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise StepError(f"'{url}' is not an http(s) URL")
        allowed = self.service.config.http_allow_hosts
        if not host_allowed(host, allowed):
            listed = ", ".join(allowed) if allowed else "none"
            raise StepError(f"host {host} is not in workflows.http_allow_hosts (allowed: {listed})")
        method = str(spec.get("method", "GET")).upper()
        headers = {str(key): self.render(run, value) for key, value in (spec.get("headers") or {}).items()}
        timeout = self.seconds(run, spec["timeout"]) if "timeout" in spec else self.service.config.http_timeout_s
        request: dict[str, Any] = {"headers": headers}
        if "json" in spec:
            request["json"] = self.value(run, spec["json"])
        elif "body" in spec:
            request["content"] = self.render(run, spec["body"]).encode("utf-8")
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                response = await client.request(method, url, **request)
        except httpx.HTTPError as exc:
            raise StepError(f"{method} {host} failed ({type(exc).__name__}: {exc or 'no detail'})")
        body = response.text[:_MAX_OUTPUT]
        try:
            parsed: Any = response.json() if len(response.content) <= 200_000 else None
        except ValueError:
            parsed = None
        result = {"ok": response.is_success, "status": response.status_code, "body": body, "json": parsed}
        if op.options.get("save_as"):
            run.variables[op.options["save_as"]] = result
        detail = f"{method} {url} → {response.status_code}"
        if not response.is_success and op.options.get("fail_on_status", True):
            raise StepError(f"{method} {host}{parts.path} answered HTTP {response.status_code}")
        return StepResult(detail=redact_secrets(detail).text)

    async def step_shell(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Run an allow-listed command without a shell; each argument is rendered on its own."""
        self.require(run, op)
        argv: list[str] = []
        for token in split_command(str(op.value)):
            template = parse_template(token)
            rendered = template.render(self.variables(run))
            if template.is_single_expression and rendered.startswith("-"):
                raise StepError(f"argument {rendered!r} comes from a variable and starts with '-'; refused")
            argv.append(rendered)
        command = shlex.join(argv)
        allowed = self.service.config.shell_allow
        if not allowed:
            raise StepError("shell steps are disabled; allow-list commands under workflows.shell_allow")
        if not shell_allowed(command, allowed):
            raise StepError(f"`{command}` is not allowed by workflows.shell_allow")
        timeout = self.seconds(run, op.options["timeout"]) if "timeout" in op.options else \
            self.service.config.shell_timeout_s
        try:
            finished = await run_program(argv, timeout, merge_stderr=True)
        except ProgramError as exc:
            if exc.timed_out:
                raise StepError(f"`{command}` took longer than {format_duration(timeout)} and was stopped")
            raise StepError(f"`{argv[0]}` {exc}")
        stdout, returncode = finished.stdout, finished.returncode
        output = redact_secrets(stdout.decode("utf-8", "replace")[-_MAX_OUTPUT:]).text.strip()
        result = {"ok": returncode == 0, "exit_code": returncode, "output": output}
        if op.options.get("save_as"):
            run.variables[op.options["save_as"]] = result
        if returncode != 0 and op.options.get("fail_on_exit", True):
            last = output.splitlines()[-1] if output else "no output"
            raise StepError(f"`{command}` exited with {returncode} ({last[:200]})")
        return StepResult(detail=f"`{command}` exited with {returncode}")

    async def step_collect(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Gather facts for a digest: open insights, message activity or workflow runs in a time window."""
        since_s = self.seconds(run, op.options.get("since", "24h"))
        room = self.render(run, op.options["room"]).strip() if op.options.get("room") else run.room_id
        kinds = [str(kind) for kind in op.options.get("kinds", [])]
        limit = int(op.options.get("limit", 20))
        try:
            scope = self.service.read_scope(run, room)
        except CommandError as exc:  # a WorkflowError: the room is outside what the run may read
            raise StepError(str(exc))
        result = self.service.collect(str(op.value), since=self.service.now() - since_s, scope=scope, kinds=kinds,
                                      limit=limit)
        run.variables[op.options.get("save_as", str(op.value))] = result
        return StepResult(detail=f"{result['count']} {op.value} in {format_duration(since_s)}")

    async def step_fail(self, run: RunRecord, op: Op, out: list[str]) -> StepResult:
        """Stop the run as failed with a message."""
        message = redact_secrets(self.render(run, op.value)).text.strip()
        return StepResult(detail=message, finish="failed", error=message)
