"""Whose permissions a workflow run acts with, and who may answer its approval gates.

A run started from chat (`!workflow run`, a trigger command such as `!kickoff`, an alias) acts with
its starter's permissions: starting it is checked as `workflow run`, and every step that does what a
command does is checked as that command (`incident declare`, `incident resolve`, ...); shell and HTTP
steps are checked as `workflow shell` / `workflow http` (permissions `shell` / `http`). A run started
by a chat message or an insight is *proactive*: it acts with the sender's permissions, and it never
declares an incident by itself, it only suggests the command a permitted person can run. A run
started by the local operator (`hololoom workflow run`) or by a schedule in a workflow file acts with
the operator's authority. Called workflows inherit their caller's authority.
"""

from __future__ import annotations

import re
from typing import Any

from hololoom_core.ops.workflows.schema import Op

OPERATOR, USER, PROACTIVE = "operator", "user", "proactive"
# Triggers whose runs nobody asked for: chat text and insights only suggest incidents.
PROACTIVE_TRIGGERS = ("message", "insight")
OPERATOR_TRIGGERS = ("cli", "cron")
# Steps that act like a chat command, and the permission checked when that command declares none.
STEP_PERMISSIONS = {"shell": "shell", "http": "http"}
# One Matrix user id (`@alice:example.org`) or a local name (`alice`): no glob characters, no spaces.
_ONE_USER = re.compile(r"^@?[A-Za-z0-9._=/+-]+(?::[A-Za-z0-9.-]+(?::\d{1,5})?)?$")
ADMINS = "admins"
GROUP_PREFIX = "group:"


def authority_for(trigger: str, parent_authority: str | None = None) -> str:
    """The authority of a new run: its caller's for a called workflow, else by what started it."""
    if parent_authority is not None:
        return parent_authority
    if trigger in OPERATOR_TRIGGERS:
        return OPERATOR
    if trigger in PROACTIVE_TRIGGERS:
        return PROACTIVE
    return USER


def authority_of(variables: dict[str, Any]) -> str:
    """The authority stored with a run (runs stored before authorities existed act as their starter)."""
    run = variables.get("run")
    value = run.get("authority") if isinstance(run, dict) else None
    return value if value in (OPERATOR, USER, PROACTIVE) else USER


def step_command(op: Op) -> str | None:
    """The command a step does by hand (`incident declare`, `workflow shell`), or None for steps with no effect
    outside the run."""
    if op.kind == "incident":
        return f"incident {op.value}"
    if op.kind in STEP_PERMISSIONS:
        return f"workflow {op.kind}"
    return None


def checked_approver(raw: str, rendered: str) -> str:
    """An approver as the gate will keep it; raises ValueError when one taken from a run's arguments is a pattern.

    Approvers written in the workflow file may be globs, `admins` or `group:NAME` (a list under
    `acl.permissions`). One that comes from a placeholder (`{{ to }}`) must name exactly one user:
    `!handoff *` must not make everyone an approver.
    """
    if "{{" not in raw:
        return rendered
    value = rendered.strip()
    if value == ADMINS or value.startswith(GROUP_PREFIX) or not _ONE_USER.match(value):
        raise ValueError(f"approver {raw.strip()!r} became {value!r}; an approver taken from the run's arguments "
                         "must name one user (no patterns, groups or 'admins')")
    return value
