"""The workflow schema: validates a YAML workflow (errors name file and line) and compiles its steps.

Steps are compiled into a flat program: `if` becomes a `branch` op that jumps past its `then`
steps when the condition is false, and a `jump` over the `else` steps. A run then only needs a
program counter to be persisted and resumed.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml
from croniter import croniter

from hololoom_core.ops.workflows.expressions import (
    ExpressionError,
    parse_expression,
    parse_template,
    split_command,
)
from hololoom_core.text.durations import parse_duration
from hololoom_core.text.linear import LinearRegexError, compile_linear
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml, yaml_line

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
RESERVED_VARIABLES = {"run", "trigger", "now", "today", "workflow", "last_error"}
TOP_LEVEL_KEYS = ("name", "description", "params", "triggers", "steps")
PARAM_KEYS = ("required", "default", "description", "choices")
TRIGGER_KINDS = ("command", "message", "insight", "incident", "cron")
TRIGGER_OPTIONS: dict[str, tuple[str, ...]] = {
    "command": ("help",),
    "message": ("rooms", "cooldown", "args"),
    "insight": ("min_confidence", "rooms", "cooldown", "args"),
    "incident": ("rooms", "cooldown", "args"),
    "cron": ("room", "args"),
}
INCIDENT_EVENTS = ("declared", "resolved", "severity_changed", "role_assigned", "status_updated", "updated", "*")
STEP_KINDS = ("say", "ask", "set", "if", "wait", "call", "incident", "http", "shell", "collect", "fail")
COMMON_STEP_KEYS = ("name", "on_error")
STEP_OPTIONS: dict[str, tuple[str, ...]] = {
    "say": ("room",),
    "ask": ("approvers", "approvals", "timeout", "on_deny", "on_timeout", "self_approval", "save_as"),
    "set": (),
    "if": ("then", "else"),
    "wait": (),
    "call": ("with", "save_as"),
    "incident": ("title", "severity", "id", "role", "user", "conditions", "actions", "needs", "summary", "save_as"),
    "http": ("save_as", "fail_on_status"),
    "shell": ("save_as", "timeout", "fail_on_exit"),
    "collect": ("kinds", "since", "room", "limit", "save_as"),
    "fail": (),
}
INCIDENT_ACTIONS = ("declare", "status", "role", "resolve")
HTTP_KEYS = ("url", "method", "headers", "json", "body", "timeout")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
COLLECT_WHAT = ("insights", "messages", "runs")
# The most compiled steps one workflow may have: far more than any hand-written workflow, and small enough
# that a file of nested YAML anchors cannot make a run (or its stored program) enormous.
MAX_PROGRAM_STEPS = 2_000


class WorkflowSchemaError(Exception):
    """A workflow file that breaks the schema; `str()` is one line: `file:line: problem`."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        super().__init__(f"{source}:{line}: {problem}" if line else f"{source}: {problem}")


@dataclass(slots=True)
class ParamSpec:
    """A workflow argument: required or with a default, optionally limited to choices."""

    name: str
    required: bool = False
    default: str | None = None
    description: str = ""
    choices: list[str] | None = None


@dataclass(slots=True)
class TriggerSpec:
    """What starts a workflow without `!workflow run`: a command, message, insight, incident event or schedule."""

    kind: str
    value: str
    line: int
    index: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Op:
    """One compiled step: its kind, the step's YAML value and options, where it was written, and a jump target."""

    kind: str
    label: str
    line: int
    value: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    target: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with each run so a resumed run follows the steps it started with."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Op:
        """Rebuild an op stored by `as_dict`."""
        return cls(**data)


@dataclass(slots=True)
class WorkflowDefinition:
    """A validated workflow: name, description, params, triggers and the compiled program."""

    name: str
    description: str
    source: str
    params: list[ParamSpec]
    triggers: list[TriggerSpec]
    program: list[Op]
    calls: list[tuple[str, int]]
    fingerprint: str

    def param(self, name: str) -> ParamSpec | None:
        """The parameter with this name."""
        return next((param for param in self.params if param.name == name), None)

    @property
    def usage(self) -> str:
        """`NAME PARAM [PARAM=default]...` for help texts."""
        parts = [param.name.upper() if param.required else f"[{param.name}={param.default or ''}]"
                 for param in self.params]
        return " ".join(parts)


class _Validator:
    """Walks the loaded YAML and raises `WorkflowSchemaError` with the line of the first problem."""

    def __init__(self, source: str, document: yaml.Node | None) -> None:
        self.source = source
        self.document = document

    def line(self, location: tuple[Any, ...]) -> int:
        return yaml_line(self.document, location) or 1

    def fail(self, location: tuple[Any, ...], problem: str) -> WorkflowSchemaError:
        return WorkflowSchemaError(self.source, self.line(location), problem)

    def unknown_keys(self, data: dict[str, Any], allowed: tuple[str, ...], location: tuple[Any, ...], what: str) -> None:
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
                raise self.fail(location + (key,), f"{what}: unknown key '{key}' ({hint})")

    def text(self, value: Any, location: tuple[Any, ...], what: str, *, template: bool = True) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(location, f"{what} must be text")
        text = str(value)
        if not text.strip():
            raise self.fail(location, f"{what} must not be empty")
        if template:
            self.template(text, location, what)
        return text

    def template(self, text: str, location: tuple[Any, ...], what: str) -> None:
        try:
            parse_template(text)
        except ExpressionError as exc:
            raise self.fail(location, f"{what}: {exc}")

    def value_templates(self, value: Any, location: tuple[Any, ...], what: str) -> None:
        """Check every string inside a nested value (set values, call args, http json) as a template."""
        if isinstance(value, str):
            self.template(value, location, what)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.value_templates(item, location + (index,), what)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.value_templates(item, location + (key,), what)
        elif not (value is None or isinstance(value, (bool, int, float))):
            raise self.fail(location, f"{what}: unsupported value {value!r}")

    def duration(self, value: Any, location: tuple[Any, ...], what: str) -> None:
        if isinstance(value, str) and "{{" in value:
            self.template(value, location, what)
            return
        try:
            parse_duration(value)
        except ValueError as exc:
            raise self.fail(location, f"{what}: {exc}")

    def choice(self, value: Any, choices: tuple[str, ...], location: tuple[Any, ...], what: str) -> str:
        if value not in choices:
            raise self.fail(location, f"{what} must be one of {', '.join(choices)} (got {value!r})")
        return str(value)

    def string_list(self, value: Any, location: tuple[Any, ...], what: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise self.fail(location, f"{what} must be a list of text")
        return list(value)

    def arguments(self, value: Any, location: tuple[Any, ...], what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(location, f"{what} must be a mapping of name: value")
        for key, item in value.items():
            if not isinstance(key, str) or not IDENTIFIER_RE.match(key):
                raise self.fail(location + (key,), f"{what}: '{key}' is not a valid name (letters, digits, _)")
            self.value_templates(item, location + (key,), what)
        return dict(value)


def parse_workflow(text: str, source: str) -> WorkflowDefinition:
    """Validate one workflow file's text and compile it; the first problem raises `WorkflowSchemaError`."""
    try:
        data, document = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise WorkflowSchemaError(source, exc.line, f"YAML syntax error ({exc.problem})")
    check = _Validator(source, document)
    if not isinstance(data, dict):
        raise check.fail((), "a workflow must be a mapping with name, steps and optional description, params, triggers")
    check.unknown_keys(data, TOP_LEVEL_KEYS, (), "workflow")
    if "name" not in data:
        raise check.fail((), "missing 'name' (a slug such as deploy-rollback)")
    name = data["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise check.fail(("name",), f"name {name!r} must be a lowercase slug like deploy-rollback")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise check.fail(("description",), "description must be text")
    params = _params(check, data.get("params") or {})
    triggers = _triggers(check, data.get("triggers") or [], params)
    if "steps" not in data:
        raise check.fail((), "missing 'steps' (a list such as - say: hello)")
    program: list[Op] = []
    calls: list[tuple[str, int]] = []
    _compile_steps(check, data["steps"], ("steps",), "", program, calls)
    fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return WorkflowDefinition(name, description.strip(), source, params, triggers, program, calls, fingerprint)


def _params(check: _Validator, raw: Any) -> list[ParamSpec]:
    if not isinstance(raw, dict):
        raise check.fail(("params",), "params must be a mapping of name: {required, default, description, choices}")
    params: list[ParamSpec] = []
    for name, spec in raw.items():
        location = ("params", name)
        if not isinstance(name, str) or not IDENTIFIER_RE.match(name):
            raise check.fail(location, f"param '{name}' must be a name of letters, digits and _")
        if name in RESERVED_VARIABLES:
            raise check.fail(location, f"param '{name}' is reserved; choose another name")
        if not isinstance(spec, dict):
            if isinstance(spec, (dict, list)):
                raise check.fail(location, f"param '{name}' must be a default value or a mapping")
            params.append(ParamSpec(name, default="" if spec is None else str(spec)))
            continue
        check.unknown_keys(spec, PARAM_KEYS, location, f"param '{name}'")
        required = spec.get("required", "default" not in spec)
        if not isinstance(required, bool):
            raise check.fail(location + ("required",), f"param '{name}': required must be true or false")
        default = spec.get("default")
        if isinstance(default, (dict, list)):
            raise check.fail(location + ("default",), f"param '{name}': default must be text or a number")
        choices = spec.get("choices")
        if choices is not None:
            choices = [str(choice) for choice in check.string_list(choices, location + ("choices",), "choices")]
            if default is not None and str(default) not in choices and str(default) != "":
                raise check.fail(location + ("default",), f"param '{name}': default {default!r} is not in choices")
        params.append(ParamSpec(name, required, None if default is None else str(default),
                                str(spec.get("description", "")), choices))
    return params


def _triggers(check: _Validator, raw: Any, params: list[ParamSpec]) -> list[TriggerSpec]:
    if not isinstance(raw, list):
        raise check.fail(("triggers",), "triggers must be a list such as - command: deploy")
    triggers: list[TriggerSpec] = []
    required = [param.name for param in params if param.required]
    for index, item in enumerate(raw):
        location = ("triggers", index)
        if not isinstance(item, dict):
            raise check.fail(location, f"trigger {index + 1} must be a mapping like command: NAME")
        kinds = [key for key in item if key in TRIGGER_KINDS]
        if len(kinds) != 1:
            found = ", ".join(str(key) for key in item) or "nothing"
            raise check.fail(location, f"trigger {index + 1} needs exactly one of {', '.join(TRIGGER_KINDS)} "
                                       f"(found {found})")
        kind = kinds[0]
        check.unknown_keys(item, (kind, *TRIGGER_OPTIONS[kind]), location, f"{kind} trigger")
        value = check.text(item[kind], location + (kind,), f"{kind} trigger", template=False)
        options: dict[str, Any] = {}
        given: set[str] = set()
        if kind == "command" and not re.match(r"^[a-z][a-z0-9-]{0,31}$", value):
            raise check.fail(location + (kind,), f"command '{value}' must be a lowercase word like rollback")
        if kind == "message":
            try:  # message patterns run on every chat message: RE2, so the time is linear in the text
                given = set(compile_linear(value).groupindex)
            except LinearRegexError as exc:
                raise check.fail(location + (kind,), f"message pattern is not a valid RE2 regular expression "
                                 f"({exc}; backreferences and lookarounds are not supported)")
        if kind == "incident":
            check.choice(value, INCIDENT_EVENTS, location + (kind,), "incident event")
        if kind == "cron" and not croniter.is_valid(value):
            raise check.fail(location + (kind,), f"'{value}' is not a cron schedule (five fields, e.g. '0 9 * * 1-5')")
        if "args" in item:
            options["args"] = check.arguments(item["args"], location + ("args",), "args")
            given |= set(options["args"])
        if "rooms" in item:
            options["rooms"] = check.string_list(item["rooms"], location + ("rooms",), "rooms")
        if "room" in item:
            options["room"] = check.text(item["room"], location + ("room",), "room", template=False)
        if "cooldown" in item:
            check.duration(item["cooldown"], location + ("cooldown",), "cooldown")
            options["cooldown"] = item["cooldown"]
        if "help" in item:
            options["help"] = check.text(item["help"], location + ("help",), "help", template=False)
        if "min_confidence" in item:
            confidence = item["min_confidence"]
            if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
                raise check.fail(location + ("min_confidence",), "min_confidence must be a number from 0 to 1")
            options["min_confidence"] = float(confidence)
        missing = [name for name in required if name not in given]
        if kind != "command" and missing:
            raise check.fail(location, f"{kind} trigger does not give required param(s) {', '.join(missing)}; "
                                       "set them under args: (or give the params a default)")
        triggers.append(TriggerSpec(kind, value, check.line(location), index, options))
    return triggers


def _compile_steps(
    check: _Validator, raw: Any, location: tuple[Any, ...], prefix: str, program: list[Op], calls: list[tuple[str, int]]
) -> None:
    if not isinstance(raw, list) or not raw:
        raise check.fail(location, "steps must be a non-empty list such as - say: hello")
    for index, step in enumerate(raw):
        step_location = location + (index,)
        label = f"{prefix}{index + 1}"
        if len(program) >= MAX_PROGRAM_STEPS:
            raise check.fail(step_location, f"the workflow compiles to more than {MAX_PROGRAM_STEPS:,} steps; "
                                            "split it into workflows that `call` each other")
        if not isinstance(step, dict):
            raise check.fail(step_location, f"step {label} must be a mapping like say: TEXT")
        kinds = [key for key in step if key in STEP_KINDS]
        if len(kinds) != 1:
            unknown = [str(key) for key in step if key not in STEP_KINDS and key not in COMMON_STEP_KEYS]
            close = difflib.get_close_matches(unknown[0], STEP_KINDS, n=1) if unknown else []
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            what = f"unknown step type '{unknown[0]}'{hint}" if unknown and not kinds else (
                f"has {len(kinds)} step types ({', '.join(kinds)})" if kinds else "has no step type")
            raise check.fail(step_location, f"step {label} {what}; one of: {', '.join(STEP_KINDS)}")
        kind = kinds[0]
        check.unknown_keys(step, (kind, *STEP_OPTIONS[kind], *COMMON_STEP_KEYS), step_location, f"step {label} ({kind})")
        line = check.line(step_location)
        options = {key: value for key, value in step.items() if key != kind}
        on_error = options.get("on_error", "stop")
        check.choice(on_error, ("stop", "continue"), step_location + ("on_error",), "on_error")
        if "save_as" in options and (not isinstance(options["save_as"], str)
                                     or not IDENTIFIER_RE.match(options["save_as"])
                                     or options["save_as"] in RESERVED_VARIABLES):
            raise check.fail(step_location + ("save_as",), "save_as must be a variable name (letters, digits, _)")
        if kind == "if":
            _compile_if(check, step, step_location, label, line, program, calls)
            continue
        value = _check_step(check, kind, step[kind], options, step_location, label)
        if kind == "call":
            calls.append((str(value), line))
        program.append(Op(kind, label, line, value, options))


def _compile_if(
    check: _Validator, step: dict[str, Any], location: tuple[Any, ...], label: str, line: int,
    program: list[Op], calls: list[tuple[str, int]],
) -> None:
    condition = check.text(step["if"], location + ("if",), f"step {label} condition", template=False)
    try:
        parse_expression(condition)
    except ExpressionError as exc:
        raise check.fail(location + ("if",), f"step {label} condition: {exc}")
    if "then" not in step:
        raise check.fail(location, f"step {label} (if) needs a 'then' list of steps")
    branch = Op("branch", label, line, condition, {"on_error": step.get("on_error", "stop")})
    program.append(branch)
    _compile_steps(check, step["then"], location + ("then",), f"{label}.then.", program, calls)
    if "else" in step:
        jump = Op("jump", label, line)
        program.append(jump)
        branch.target = len(program)
        _compile_steps(check, step["else"], location + ("else",), f"{label}.else.", program, calls)
        jump.target = len(program)
    else:
        branch.target = len(program)


def _check_step(
    check: _Validator, kind: str, value: Any, options: dict[str, Any], location: tuple[Any, ...], label: str
) -> Any:
    what = f"step {label} ({kind})"
    here = location + (kind,)
    if kind in ("say", "fail"):
        check.text(value, here, what)
        if "room" in options:
            check.text(options["room"], location + ("room",), f"{what} room")
        return str(value)
    if kind == "ask":
        check.text(value, here, what)
        if "approvers" in options:
            for index, approver in enumerate(check.string_list(options["approvers"], location + ("approvers",),
                                                                 f"{what} approvers")):
                check.template(approver, location + ("approvers", index), f"{what} approvers")
        if "timeout" in options:
            check.duration(options["timeout"], location + ("timeout",), f"{what} timeout")
        for key in ("on_deny", "on_timeout"):
            if key in options:
                check.choice(options[key], ("stop", "continue"), location + (key,), f"{what} {key}")
        approvals = options.get("approvals", 1)
        if isinstance(approvals, bool) or not isinstance(approvals, int) or not 1 <= approvals <= 5:
            raise check.fail(location + ("approvals",), f"{what} approvals must be a whole number from 1 to 5 "
                                                        "(distinct people who must approve)")
        if "self_approval" in options and not isinstance(options["self_approval"], bool):
            raise check.fail(location + ("self_approval",), f"{what} self_approval must be true or false")
        return str(value)
    if kind == "set":
        values = check.arguments(value, here, what)
        for name in values:
            if name in RESERVED_VARIABLES:
                raise check.fail(here + (name,), f"{what}: '{name}' is reserved; choose another name")
        return values
    if kind == "wait":
        check.duration(value, here, what)
        return value
    if kind == "call":
        target = check.text(value, here, what, template=False)
        if not NAME_RE.match(target):
            raise check.fail(here, f"{what}: '{target}' is not a workflow name")
        if "with" in options:
            check.arguments(options["with"], location + ("with",), f"{what} with")
        return target
    if kind == "incident":
        return _check_incident(check, value, options, location, what)
    if kind == "http":
        return _check_http(check, value, location, what)
    if kind == "shell":
        command = check.text(value, here, what, template=False)
        try:
            tokens = split_command(command)
        except ValueError as exc:
            raise check.fail(here, f"{what}: cannot split the command into arguments ({exc})")
        if not tokens:
            raise check.fail(here, f"{what}: the command is empty")
        for token in tokens:
            check.template(token, here, what)
        if "timeout" in options:
            check.duration(options["timeout"], location + ("timeout",), f"{what} timeout")
        return command
    if kind == "collect":
        check.choice(value, COLLECT_WHAT, here, what)
        if "kinds" in options:
            check.string_list(options["kinds"], location + ("kinds",), f"{what} kinds")
        if "since" in options:
            check.duration(options["since"], location + ("since",), f"{what} since")
        if "room" in options:
            check.text(options["room"], location + ("room",), f"{what} room")
        limit = options.get("limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
            raise check.fail(location + ("limit",), f"{what} limit must be a whole number from 1 to 200")
        return value
    raise check.fail(here, f"{what}: unsupported step")  # pragma: no cover - STEP_KINDS is closed


def _check_incident(
    check: _Validator, action: Any, options: dict[str, Any], location: tuple[Any, ...], what: str
) -> str:
    check.choice(action, INCIDENT_ACTIONS, location + ("incident",), f"{what} action")
    needed = {"declare": ("title",), "role": ("role", "user"), "status": (), "resolve": ()}[action]
    for key in needed:
        if key not in options:
            raise check.fail(location, f"{what}: '{action}' needs '{key}'")
    if action == "status" and not any(key in options for key in ("conditions", "actions", "needs")):
        raise check.fail(location, f"{what}: 'status' needs at least one of conditions, actions, needs")
    for key in ("title", "severity", "id", "role", "user", "conditions", "actions", "needs", "summary"):
        if key in options:
            check.text(options[key], location + (key,), f"{what} {key}")
    return str(action)


def _check_http(check: _Validator, value: Any, location: tuple[Any, ...], what: str) -> dict[str, Any]:
    here = location + ("http",)
    if isinstance(value, str):
        value = {"url": value}
    if not isinstance(value, dict):
        raise check.fail(here, f"{what} must be a URL or a mapping with url, method, headers, json or body")
    check.unknown_keys(value, HTTP_KEYS, here, what)
    if "url" not in value:
        raise check.fail(here, f"{what} needs a url")
    url = check.text(value["url"], here + ("url",), f"{what} url")
    if not url.startswith(("http://", "https://", "{{")):
        raise check.fail(here + ("url",), f"{what} url must start with http:// or https://")
    method = str(value.get("method", "GET")).upper()
    check.choice(method, HTTP_METHODS, here + ("method",), f"{what} method")
    if "json" in value and "body" in value:
        raise check.fail(here, f"{what}: give json or body, not both")
    if "headers" in value:
        headers = value["headers"]
        if not isinstance(headers, dict):
            raise check.fail(here + ("headers",), f"{what} headers must be a mapping")
        for key, item in headers.items():
            check.text(item, here + ("headers", key), f"{what} header {key}")
    if "json" in value:
        check.value_templates(value["json"], here + ("json",), f"{what} json")
    if "body" in value:
        check.text(value["body"], here + ("body",), f"{what} body")
    if "timeout" in value:
        check.duration(value["timeout"], here + ("timeout",), f"{what} timeout")
    return {**value, "method": method}
