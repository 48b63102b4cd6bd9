"""The postmortem: Markdown built only from what the incident recorded (timeline, roles, updates, items).

Sections: facts table, summary, impact, timeline, root cause as stated, what went well, what went
badly, decisions and open questions (when insights were detected), action items with owners, and
related runbooks and incidents. Judgements ("went well/badly") are measured against the severity's
targets in `ops.incidents.targets`, or quoted from notes that start with "went well:" / "went badly:".
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from hololoom_core.ops.incidents.models import ActionItem, Incident, TimelineEntry

if TYPE_CHECKING:
    from hololoom_core.config import IncidentTarget
    from hololoom_core.ops.incidents.service import Remediation

STATUS_GAP_WARNING_S = 30 * 60
_WENT_WELL = re.compile(r"^\s*(?:went well|good|worked)\s*[:\-]\s*(.+)", re.I | re.S)
_WENT_BADLY = re.compile(r"^\s*(?:went badly|went wrong|bad|improve|to improve)\s*[:\-]\s*(.+)", re.I | re.S)


def format_duration(seconds: float | None) -> str:
    """`42s`, `4m 05s`, `1h 02m`, `2d 3h`; `—` for None."""
    if seconds is None:
        return "—"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def format_time(ts: float | None, *, with_date: bool = True) -> str:
    """UTC time of a timestamp: `2025-11-25 14:02 UTC`, or `14:02:11` without the date."""
    if ts is None:
        return "—"
    if with_date:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def _quote(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def timeline_lines(incident: Incident, timeline: list[TimelineEntry], limit: int = 300) -> list[str]:
    """Timeline entries as Markdown bullets (UTC), with the date when it changes."""
    lines: list[str] = []
    insight_messages = {entry.message_id for entry in timeline if entry.kind.startswith("insight:")}
    day = time.strftime("%Y-%m-%d", time.gmtime(incident.declared_ts))
    for entry in timeline:
        if entry.kind == "message" and entry.message_id in insight_messages:
            continue  # the insight line says it better
        entry_day = time.strftime("%Y-%m-%d", time.gmtime(entry.ts))
        stamp = format_time(entry.ts, with_date=False)
        if entry_day != day:
            stamp = f"{entry_day} {stamp}"
            day = entry_day
        label = entry.kind.split(":", 1)[1] if entry.kind.startswith("insight:") else entry.kind
        lines.append(f"- **{stamp}** {entry.actor} — _{label}_: {_quote(entry.text, limit)}")
    return lines


def _status_gap(incident: Incident, timeline: list[TimelineEntry]) -> float | None:
    """The longest time the incident went without a status update while open (None without updates)."""
    updates = [entry.ts for entry in timeline if entry.kind == "status"]
    if not updates:
        return None
    end = incident.resolved_ts if incident.resolved_ts is not None else updates[-1]
    points = [incident.declared_ts, *updates, end]
    return max(later - earlier for earlier, later in zip(points, points[1:], strict=False))


def assess(incident: Incident, timeline: list[TimelineEntry], items: list[ActionItem],
           target: IncidentTarget) -> tuple[list[str], list[str]]:
    """What went well and what went badly, measured against the severity's targets and quoted from notes."""
    well: list[str] = []
    badly: list[str] = []
    ack_target = target.acknowledge_minutes * 60
    resolve_target = target.resolve_minutes * 60
    tta = incident.time_to_acknowledge
    if tta is not None:
        verdict = f"Acknowledged after {format_duration(tta)} ({incident.acknowledged_by}); the {incident.severity} " \
                  f"target is {format_duration(ack_target)}."
        (well if tta <= ack_target else badly).append(verdict)
    elif not incident.is_open:
        badly.append("Nobody acknowledged the incident before it was resolved (no role, status update or reply).")
    ttr = incident.time_to_resolve
    if ttr is not None:
        verdict = f"Resolved after {format_duration(ttr)}; the {incident.severity} target is " \
                  f"{format_duration(resolve_target)}."
        (well if ttr <= resolve_target else badly).append(verdict)
    if "commander" in incident.roles:
        well.append(f"A commander led the response ({incident.roles['commander']}).")
    else:
        badly.append("No incident commander was assigned (`!incident role @user commander`).")
    updates = [entry for entry in timeline if entry.kind == "status"]
    if updates:
        well.append(f"{len(updates)} status update(s) kept people informed.")
        gap = _status_gap(incident, timeline)
        if gap is not None and gap > STATUS_GAP_WARNING_S:
            badly.append(f"The longest stretch without a status update was {format_duration(gap)}.")
    else:
        badly.append("No status update (Conditions / Actions / Needs) was posted.")
    raised = [entry for entry in timeline if entry.kind == "severity" and entry.data.get("to", "") <
              entry.data.get("from", "")]
    if raised:
        first = raised[0]
        badly.append(f"The severity was underestimated at first ({first.data.get('from')} → {first.data.get('to')} "
                     f"after {format_duration(first.ts - incident.declared_ts)}).")
    if not items:
        badly.append("No action items were recorded.")
    for entry in timeline:
        if entry.kind in ("note", "message"):
            good = _WENT_WELL.match(entry.text)
            bad = _WENT_BADLY.match(entry.text)
            if good:
                well.append(f"{_quote(good.group(1), 200)} (said by {entry.actor})")
            elif bad:
                badly.append(f"{_quote(bad.group(1), 200)} (said by {entry.actor})")
    return well, badly


def without_root_cause(resolution: str, root_cause: str | None) -> str:
    """The resolution note without its "root cause: …" part when the postmortem states that cause on its own."""
    if not root_cause:
        return resolution
    match = re.search(r"\broot\s+cause\s*:\s*", resolution, re.I)
    if match is None:
        return resolution
    before = resolution[: match.start()].strip().rstrip(";,.-—")
    rest = resolution[match.end():].strip()
    if rest.rstrip(".").startswith(root_cause.rstrip(".")):
        rest = rest[len(root_cause.rstrip(".")):].lstrip(". ;,")
    return " ".join(part for part in (before, rest) if part).strip()


def render_postmortem(incident: Incident, timeline: list[TimelineEntry], items: list[ActionItem],
                      remediation: Remediation, target: IncidentTarget, *, generated_ts: float) -> str:
    """The postmortem of one incident as Markdown."""
    status = "resolved" if not incident.is_open else "open (draft: the incident is not resolved yet)"
    severity_changes = [entry for entry in timeline if entry.kind == "severity"]
    first_severity = severity_changes[0].data.get("from", incident.severity) if severity_changes else incident.severity
    worst = min([first_severity, incident.severity, *(e.data.get("to", "sev4") for e in severity_changes)])
    roles = " · ".join(f"{role}: {user}" for role, user in incident.roles.items()) or "none assigned"
    facts = [
        ("Status", status),
        ("Severity", incident.severity if worst == incident.severity else f"{incident.severity} (worst: {worst})"),
        ("Declared", f"{format_time(incident.declared_ts)} by {incident.declared_by}"),
        ("Acknowledged", f"{format_time(incident.acknowledged_ts)} by {incident.acknowledged_by} — time to "
                         f"acknowledge {format_duration(incident.time_to_acknowledge)}"
         if incident.acknowledged_ts is not None else "not acknowledged"),
        ("Resolved", f"{format_time(incident.resolved_ts)} by {incident.resolved_by} — time to resolve "
                     f"{format_duration(incident.time_to_resolve)}" if incident.resolved_ts is not None else "—"),
        ("Roles", roles),
        ("Room", incident.room_id),
    ]
    if incident.external_ids:
        facts.append(("Other ids", ", ".join(incident.external_ids)))
    lines = [f"# Postmortem — {incident.key}: {incident.title}", "",
             f"_Generated by HoloLoom at {format_time(generated_ts)} from the incident's own record; "
             "nothing below is invented._", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in facts]

    updates = [entry for entry in timeline if entry.kind == "status"]
    messages = [entry for entry in timeline if entry.kind == "message"]
    lines += ["", "## Summary", ""]
    summary = f"{incident.title}. Declared as {first_severity} by {incident.declared_by}"
    if incident.resolved_ts is not None:
        summary += f"; resolved by {incident.resolved_by} after {format_duration(incident.time_to_resolve)}"
    summary += f". The timeline holds {len(timeline)} entries: {len(updates)} status update(s), " \
               f"{len(messages)} message(s) from the incident's threads, {len(items)} action item(s)."
    lines.append(summary)
    if incident.resolution:
        resolution = without_root_cause(incident.resolution, incident.root_cause)
        if resolution:
            lines += ["", f"Resolution (as stated by {incident.resolved_by}): {_quote(resolution, 600)}"]

    lines += ["", "## Impact", ""]
    duration = (incident.resolved_ts or generated_ts) - incident.declared_ts
    lines.append(f"- Duration: {format_duration(duration)}{'' if incident.resolved_ts else ' so far'}; "
                 f"worst severity {worst}.")
    conditions = [entry for entry in updates if entry.data.get("conditions")]
    if conditions:
        for entry in conditions:
            lines.append(f"- {format_time(entry.ts, with_date=False)} UTC, {entry.actor}: "
                         f"{_quote(entry.data['conditions'])}")
    else:
        lines.append("- No status update described the conditions; next time post "
                     "`!incident status conditions: ... actions: ... needs: ...`.")

    lines += ["", "## Timeline (UTC)", ""]
    lines += timeline_lines(incident, timeline) or ["- (empty)"]

    lines += ["", "## Root cause (as stated)", ""]
    if incident.root_cause:
        lines.append(f"> {_quote(incident.root_cause, 1000)}")
    elif incident.resolution:
        lines.append("Not stated separately. The resolution note reads:")
        lines.append(f"> {_quote(incident.resolution, 1000)}")
    else:
        lines.append("Not stated yet (`!incident rootcause TEXT`).")

    well, badly = assess(incident, timeline, items, target)
    lines += ["", "## What went well", ""] + ([f"- {item}" for item in well] or ["- (nothing recorded)"])
    lines += ["", "## What went badly", ""] + ([f"- {item}" for item in badly] or ["- (nothing recorded)"])

    decisions = [entry for entry in timeline if entry.kind == "insight:decision"]
    questions = [entry for entry in timeline if entry.kind in ("insight:question", "insight:open_question")]
    if decisions:
        lines += ["", "## Decisions", ""] + [f"- {e.actor}: {_quote(e.text)}" for e in decisions]
    if questions:
        lines += ["", "## Open questions", ""] + [f"- {e.actor}: {_quote(e.text)}" for e in questions]

    lines += ["", "## Action items", ""]
    if items:
        lines += ["| owner | action | from |", "|---|---|---|"]
        lines += [f"| {item.owner} | {_quote(item.text, 200)} | {item.source} |" for item in items]
    else:
        lines.append("None recorded (`!incident action @owner TEXT`).")

    lines += ["", "## Related", ""]
    if remediation.runbooks:
        lines += [f"- Runbook `{match.runbook.id}` — {match.runbook.title} (match {match.confidence:.2f})"
                  for match in remediation.runbooks]
    if remediation.related:
        lines += [f"- {past.key} ({past.severity}) {past.title} — root cause: {past.root_cause or 'not stated'} "
                  f"(similarity {score:.2f})" for past, score in remediation.related]
    if not remediation.runbooks and not remediation.related:
        lines.append("- No matching runbook or similar past incident.")
    return "\n".join(lines) + "\n"
