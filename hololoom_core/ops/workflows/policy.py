"""The run-time policy of workflows, checked before a run: shell allow-list, HTTP hosts, step budget.

`hololoom workflow validate` reports these as `file:line` problems, so a step that every run would
refuse (a shell command outside `workflows.shell_allow`, a URL on a host outside
`workflows.http_allow_hosts`, a program longer than `workflows.max_steps_per_run`) fails validation
instead of failing at 3 a.m. A step with `on_error: continue` is expected to fail sometimes (the
shipped rollback tells people to roll back by hand), so its problem is a warning, not an error.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from hololoom_core.config import WorkflowsConfig
from hololoom_core.ops.workflows.expressions import split_command
from hololoom_core.ops.workflows.schema import Op, WorkflowDefinition

_PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.S)


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One step a run would refuse (or might refuse): where it is, what is wrong, and whether it is an error."""

    source: str
    line: int | None
    problem: str
    error: bool = True

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {'' if self.error else 'warning: '}{self.problem}"


def shell_allowed(command: str, allowed: list[str]) -> bool:
    """True when a rendered command line matches one of the `workflows.shell_allow` globs."""
    return any(fnmatchcase(command, pattern) for pattern in allowed)


def host_allowed(host: str, allowed: list[str]) -> bool:
    """True when a host name matches one of the `workflows.http_allow_hosts` globs."""
    return any(fnmatchcase(host.lower(), pattern) for pattern in allowed)


def _shell_problem(op: Op, config: WorkflowsConfig) -> str | None:
    allowed = config.shell_allow
    if not allowed:
        return f"step {op.label} (shell) runs `{op.value}`, but shell steps are disabled (workflows.shell_allow " \
               "is empty)"
    tokens = split_command(str(op.value))
    templated = any("{{" in token for token in tokens)
    # A placeholder stands for some word: try a plain one, so `deployment/{{ service }}` meets `deployment/*`.
    sample = shlex.join(_PLACEHOLDER.sub("x", token) for token in tokens)
    if shell_allowed(sample, allowed):
        return None
    if not templated:
        return f"step {op.label} (shell): `{sample}` is not allowed by workflows.shell_allow"
    program = tokens[0]
    if "{{" not in program and not any(fnmatchcase(program, pattern.split(" ", 1)[0]) for pattern in allowed):
        return f"step {op.label} (shell): no workflows.shell_allow entry runs `{program}`"
    return None


def _http_problem(op: Op, config: WorkflowsConfig) -> str | None:
    url = str(op.value.get("url", "")) if isinstance(op.value, dict) else str(op.value)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or "{{" in (parts.netloc or ""):
        return None  # the host comes from a variable: only the run can check it
    if not host_allowed(host, config.http_allow_hosts):
        listed = ", ".join(config.http_allow_hosts) or "none"
        return f"step {op.label} (http): host {host} is not in workflows.http_allow_hosts (allowed: {listed})"
    return None


def policy_problems(definition: WorkflowDefinition, config: WorkflowsConfig) -> list[PolicyProblem]:
    """What a run of `definition` under `config` would refuse, one problem per step, in program order."""
    problems: list[PolicyProblem] = []
    if len(definition.program) > config.max_steps_per_run:
        problems.append(PolicyProblem(definition.source, definition.program[config.max_steps_per_run].line,
                                      f"the workflow has {len(definition.program)} compiled steps, more than "
                                      f"workflows.max_steps_per_run ({config.max_steps_per_run})"))
    for op in definition.program:
        problem = _shell_problem(op, config) if op.kind == "shell" else \
            _http_problem(op, config) if op.kind == "http" else None
        if problem:
            problems.append(PolicyProblem(definition.source, op.line, problem,
                                          error=op.options.get("on_error") != "continue"))
    return problems
