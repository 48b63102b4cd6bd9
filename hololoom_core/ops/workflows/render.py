"""Markdown for `!workflow list`, `!workflow status` and the CLI: workflows, runs and their step logs."""

from __future__ import annotations

from datetime import UTC, datetime

from hololoom_core.ops.workflows.facts import STATUS_WORDS
from hololoom_core.ops.workflows.library import WorkflowLibrary
from hololoom_core.ops.workflows.schema import TriggerSpec, WorkflowDefinition
from hololoom_core.ops.workflows.store import RunRecord

STATUS_ICONS = {
    "running": "▶", "waiting_approval": "⏸", "waiting_timer": "⏳", "waiting_child": "⏸", "succeeded": "✔",
    "failed": "✖", "denied": "🛑", "timed_out": "⌛", "cancelled": "✖",
}
STEP_ICONS = {"ok": "✔", "failed": "✖", "waiting": "⏸", "started": "▶", "approved": "✅", "denied": "🛑",
              "timed_out": "⌛", "interrupted": "↯"}


def when(ts: float | None) -> str:
    """A timestamp as `2026-11-25 14:05 UTC`."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "—"


def describe_trigger(trigger: TriggerSpec, prefix: str) -> str:
    """A trigger in a few words: `!rollback`, `message /regex/`, `insight incident_signal`, `cron 0 9 * * 1-5`."""
    if trigger.kind == "command":
        return f"`{prefix}{trigger.value}`"
    if trigger.kind == "message":
        return f"message `/{trigger.value}/`"
    if trigger.kind == "cron":
        return f"cron `{trigger.value}`"
    return f"{trigger.kind} `{trigger.value}`"


def workflow_line(definition: WorkflowDefinition, prefix: str) -> str:
    """One line per workflow for the list."""
    triggers = ", ".join(describe_trigger(trigger, prefix) for trigger in definition.triggers)
    usage = f" {definition.usage}" if definition.params else ""
    text = f"- `{definition.name}{usage}` — {definition.description.splitlines()[0] if definition.description else ''}"
    return text + (f" · triggers: {triggers}" if triggers else "")


def library_markdown(library: WorkflowLibrary, prefix: str, waiting: list[dict[str, object]]) -> str:
    """`!workflow list`: every workflow, the runs waiting for approval, and the files that failed to load."""
    lines = [f"**Workflows ({len(library)})** — start one with `{prefix}workflow run NAME [args]`"]
    lines += [workflow_line(definition, prefix) + (f" · package `{library.packages[definition.name]}`"
                                                   if definition.name in library.packages else "")
              for definition in library.all()]
    if waiting:
        lines.append(f"\n**Waiting for approval ({len(waiting)})**")
        lines += [f"- {item['label']} `{item['workflow']}`: {item['prompt']} (asked by {item['requested_by']}; "
                  f"`{prefix}workflow approve {item['run_id']}`)" for item in waiting]
    if library.problems:
        lines.append(f"\n**Problems ({len(library.problems)})**")
        lines += [f"- {problem}" for problem in library.problems]
    return "\n".join(lines)


def run_line(run: RunRecord) -> str:
    """One line per run: label, workflow, status, who, when."""
    icon = STATUS_ICONS.get(run.status, "•")
    return (f"- {icon} {run.label} `{run.workflow}` — {STATUS_WORDS.get(run.status, run.status)} · "
            f"{run.started_by} in {run.room_id} · {when(run.created_ts)}")


def runs_markdown(runs: list[RunRecord]) -> str:
    """Recent runs, newest first."""
    if not runs:
        return "No workflow runs yet."
    return "\n".join([f"**Recent workflow runs ({len(runs)})**", *[run_line(run) for run in runs]])


def run_markdown(run: RunRecord, prefix: str) -> str:
    """`!workflow status RUN`: where the run is, what it waits for, and its step log."""
    icon = STATUS_ICONS.get(run.status, "•")
    lines = [f"**{run.label} · `{run.workflow}`** — {icon} {STATUS_WORDS.get(run.status, run.status)}"]
    lines.append(f"Started by {run.started_by} in {run.room_id} ({run.trigger}) at {when(run.created_ts)}"
                 + (f"; ended {when(run.finished_ts)}" if run.finished_ts else ""))
    if run.status == "waiting_approval":
        approvers = ", ".join(run.waiting.get("approvers") or []) or "anyone allowed"
        lines.append(f"Waiting for: “{run.waiting.get('prompt', '')}” — approvers: {approvers}; times out "
                     f"{when(run.wake_ts)}. `{prefix}workflow approve {run.id}` / `{prefix}workflow deny {run.id}`")
    elif run.status == "waiting_timer":
        lines.append(f"Resumes at {when(run.wake_ts)}.")
    elif run.status == "waiting_child":
        lines.append(f"Waiting for WF-{run.waiting.get('child_run_id')} to finish.")
    if run.error:
        lines.append(f"Error: {run.error}")
    if run.steps:
        lines.append("\n**Steps**")
        for step in run.steps[-30:]:
            actor = f" by {step['actor']}" if step.get("actor") else ""
            detail = str(step.get("detail") or "").replace("\n", " ")
            detail = detail if len(detail) <= 140 else detail[:139] + "…"
            lines.append(f"- {STEP_ICONS.get(step['status'], '•')} step {step['label']} {step['kind']} "
                         f"(line {step['line']}) {step['status']}{actor}" + (f" — {detail}" if detail else ""))
    return "\n".join(lines)
