"""The `!incident` chat commands (also reachable with `hololoom say "!incident ..."`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hololoom_core.engine.arguments import USER, Arg
from hololoom_core.engine.commands import CommandContext, CommandResult
from hololoom_core.ops.incidents.models import Incident, IncidentError, incident_ref_arg, severity_type
from hololoom_core.ops.incidents.postmortem import format_duration, format_time, timeline_lines
from hololoom_core.ops.incidents.service import (
    ROLE_ALIASES,
    IncidentService,
    Remediation,
    parse_status_update,
)

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

PERMISSION = "incident"
_SEVERITY_WORD = re.compile(r"^(?:sev|p)[1-4]$", re.I)


def mention(user: str) -> str:
    """How to mention a user in a reply: Matrix ids as they are, simulated-room users as `@name`."""
    return user if user.startswith("@") else f"@{user}"


def remediation_lines(remediation: Remediation, prefix: str) -> list[str]:
    """Runbooks and similar past incidents, as Markdown bullets."""
    lines: list[str] = []
    if remediation.runbooks:
        lines += ["", "**Matching runbooks**"]
        lines += [f"- `{m.runbook.id}` — {m.runbook.title} (match {m.confidence:.2f}): `{prefix}runbook {m.runbook.id}`"
                  for m in remediation.runbooks]
    if remediation.related:
        lines += ["", "**Similar past incidents**"]
        for past, score in remediation.related:
            cause = past.root_cause or past.resolution or "no root cause stated"
            lines.append(f"- {past.key} ({past.severity}, resolved in {format_duration(past.time_to_resolve)}) "
                         f"{past.title} — {cause} (similarity {score:.2f})")
    return lines


def summary_text(service: IncidentService, incident: Incident, prefix: str) -> str:
    """`!incident show`: the facts, the roles, the latest status update and what is open."""
    timeline = service.db.timeline(incident.id)
    latest = next((entry for entry in reversed(timeline) if entry.kind == "status"), None)
    roles = ", ".join(f"{role} {mention(user)}" for role, user in incident.roles.items()) or "none yet"
    lines = [
        f"**{incident.key}** ({incident.severity}, {incident.status}) {incident.title}",
        f"- Declared {format_time(incident.declared_ts)} by {incident.declared_by}",
        (f"- Acknowledged: {format_duration(incident.time_to_acknowledge)} after declaration"
         + (f" by {incident.acknowledged_by}" if incident.acknowledged_by else ""))
        if incident.acknowledged_ts is not None else "- Acknowledged: not yet",
        f"- Roles: {roles}",
    ]
    if incident.resolved_ts is not None:
        lines.append(f"- Resolved {format_time(incident.resolved_ts)} by {incident.resolved_by} after "
                     f"{format_duration(incident.time_to_resolve)}")
    if incident.external_ids:
        lines.append(f"- Other ids: {', '.join(incident.external_ids)}")
    if latest is not None:
        lines.append(f"- Latest status ({format_time(latest.ts, with_date=False)} UTC, {latest.actor}): {latest.text}")
    items = service.db.action_items(incident.id)
    lines.append(f"- Timeline: {len(timeline)} entries · action items: {len(items)}")
    if incident.is_open:
        lines.append(f"\n`{prefix}incident status {incident.key} conditions: … actions: … needs: …` · "
                     f"`{prefix}incident resolve {incident.key} root cause: …`")
    return "\n".join(lines)


def install_commands(engine: Engine, service: IncidentService) -> None:
    """Register `!incident` and its subcommands."""
    registry = engine.commands
    prefix = engine.config.bot.command_prefix
    registry.group("incident", help="Declare and run incidents: roles, status updates, timeline, postmortem.",
                   aliases=("inc", "incidents"), group="incidents")
    optional_incident = Arg("incident", incident_ref_arg, default=None,
                            help="which incident (default: this thread's, or the room's only open one)")

    def role_arg(text: str) -> str:
        name = ROLE_ALIASES.get(text.lower(), text.lower())
        if name not in service.config.role_instructions:
            raise ValueError(f"must be one of {', '.join(service.roles_available)}, got '{text}'")
        return name

    role_arg.__name__ = "role"

    def which(context: CommandContext, adopt: bool = False, latest: bool = False) -> Incident:
        incident = service.find(context.params.get("incident"), room_id=context.room_id,
                                thread_id=context.message.thread_id, adopt=adopt, user=context.user,
                                ts=context.message.ts, latest=latest)
        if not engine.room_scope(context.room_id).allows(incident.room_id):  # rooms are walls
            raise IncidentError(f"no incident {context.params.get('incident') or 'here'} in a room readable from "
                                f"{context.room_id}")
        return incident

    @registry.command("incident declare", help="Declare an incident: it gets an id (INC-N) and its own thread "
                      "(`open sev2 TITLE` works too).",
                      usage="incident declare TITLE... [sev1-4]",
                      aliases=("open", "new", "start"), permission=PERMISSION,
                      args=[Arg("title", greedy=True, help="what is broken; sev1-sev4 first or last sets the severity")])
    async def declare(context: CommandContext) -> CommandResult:
        words = context.params["title"].split()
        severity = None
        if words and _SEVERITY_WORD.match(words[0]):
            severity, words = words[0], words[1:]
        elif words and _SEVERITY_WORD.match(words[-1]):
            severity, words = words[-1], words[:-1]
        message = context.message
        thread_id = message.thread_id or message.event_id
        incident = await service.declare(" ".join(words), user=context.user, room_id=context.room_id,
                                         severity=severity, thread_id=thread_id, message_id=message.id,
                                         ts=message.ts)
        lines = [
            f"**{incident.key} declared** ({incident.severity}): {incident.title}",
            f"Declared by {incident.declared_by}. This thread is the incident's channel: what is said here goes on "
            "its timeline.",
            "",
            f"Next: `{prefix}incident role @user commander` · `{prefix}incident status conditions: … actions: … "
            f"needs: …` · `{prefix}incident resolve {incident.key} root cause: …`",
        ]
        lines += remediation_lines(service.remediation(incident), prefix)
        return CommandResult("\n".join(lines), thread_id=thread_id,
                             data={"incident": incident.key, "channel": service.config.channel})

    @registry.command("incident role", help="Give someone a role; they get the role's instructions.",
                      aliases=("assign",), permission=PERMISSION,
                      args=[optional_incident, Arg("user", USER, metavar="@USER", help="who"),
                            Arg("role", role_arg, metavar="ROLE", help="commander, scribe or comms")])
    async def role(context: CommandContext) -> str:
        incident = which(context)
        assignee, role_name = context.params["user"], context.params["role"]
        updated = await service.set_role(incident.key, role_name, assignee, user=context.user, ts=context.message.ts)
        return (f"{mention(assignee)} — you are now the **{role_name}** for {updated.key} ({updated.title}).\n\n"
                f"{service.role_instructions(role_name)}")

    @registry.command("incident status", help="Post a Conditions / Actions / Needs update, or show the status.",
                      aliases=("update",),
                      args=[optional_incident, Arg("update", greedy=True, default="",
                                                   help="conditions: … actions: … needs: … (empty: show status)")])
    async def status(context: CommandContext) -> str:
        incident = which(context, latest=not context.params["update"])
        if not context.params["update"]:
            return summary_text(service, incident, prefix)
        parts = parse_status_update(context.params["update"])
        updated = await service.status_update(incident.key, user=context.user, ts=context.message.ts,
                                              message_id=context.message.id, **parts)
        lines = [f"**{updated.key} status** from {context.user}"]
        lines += [f"- **{name.capitalize()}:** {value}" for name, value in parts.items() if value]
        return "\n".join(lines)

    @registry.command("incident severity", help="Change an incident's severity (sev1 is the worst).",
                      aliases=("sev",), permission=PERMISSION,
                      args=[optional_incident, Arg("severity", severity_type)])
    async def severity(context: CommandContext) -> str:
        incident = which(context)
        updated = await service.set_severity(incident.key, context.params["severity"], user=context.user,
                                             ts=context.message.ts)
        if updated.severity == incident.severity:
            return f"{updated.key} is already {updated.severity}."
        return f"{updated.key} is now **{updated.severity}** (was {incident.severity})."

    @registry.command("incident ack", help="Acknowledge an incident (starts the time-to-acknowledge clock's end).",
                      aliases=("acknowledge",), args=[optional_incident])
    async def ack(context: CommandContext) -> str:
        incident = which(context)
        if incident.acknowledged_ts is not None:
            return (f"{incident.key} was already acknowledged by {incident.acknowledged_by} after "
                    f"{format_duration(incident.time_to_acknowledge)}.")
        updated = await service.acknowledge(incident.key, user=context.user, ts=context.message.ts)
        return f"{updated.key} acknowledged by {context.user} after {format_duration(updated.time_to_acknowledge)}."

    @registry.command("incident note", help="Put a note on the timeline; as a reply with no text, tag that message.",
                      aliases=("tag", "log"),
                      args=[optional_incident, Arg("text", greedy=True, default="",
                                                   help='e.g. "went well: the rollback took 2 minutes"')])
    async def note(context: CommandContext) -> str:
        incident = which(context)
        text = context.params["text"]
        if text:
            await service.add_note(incident.key, text, user=context.user, ts=context.message.ts,
                                   message_id=context.message.id)
            return f"Noted on {incident.key}'s timeline."
        replied = context.engine.messages.by_event_id(context.message.reply_to) if context.message.reply_to else None
        if replied is None:
            raise IncidentError("give the note's text, or send this as a reply to the message to tag")
        await service.add_note(incident.key, replied.body, user=replied.sender, ts=replied.ts,
                               message_id=replied.id, kind="message")
        return f"Tagged {replied.sender}'s message into {incident.key}'s timeline."

    @registry.command("incident action", help="Record a follow-up action item with an owner.",
                      aliases=("followup", "todo"),
                      args=[optional_incident, Arg("owner", USER, metavar="@OWNER", help="who will do it"),
                            Arg("text", greedy=True, help="what")])
    async def action(context: CommandContext) -> str:
        incident = which(context)
        await service.add_action_item(incident.key, context.params["owner"], context.params["text"],
                                      user=context.user, ts=context.message.ts, message_id=context.message.id)
        return f"Action item for {mention(context.params['owner'])} on {incident.key}: {context.params['text']}"

    @registry.command("incident rootcause", help="State the root cause (quoted as stated in the postmortem).",
                      aliases=("cause",), permission=PERMISSION,
                      args=[optional_incident, Arg("text", greedy=True)])
    async def rootcause(context: CommandContext) -> str:
        incident = which(context)
        await service.set_root_cause(incident.key, context.params["text"], user=context.user, ts=context.message.ts)
        return f"Root cause of {incident.key} recorded."

    @registry.command("incident link", help="Link this thread to an incident: its messages join the timeline.",
                      permission=PERMISSION, args=[optional_incident])
    async def link(context: CommandContext) -> str:
        thread_id = context.message.thread_id
        if not thread_id:
            raise IncidentError("send this inside the thread you want to link")
        incident = service.find(context.params.get("incident"), room_id=context.room_id)
        added = await service.link_thread(incident.key, thread_id, user=context.user, room_id=context.room_id,
                                          ts=context.message.ts)
        return f"This thread is now part of {incident.key}; {added} earlier message(s) added to its timeline."

    @registry.command("incident resolve", help="Resolve an incident and generate its postmortem.",
                      aliases=("close", "done"), permission=PERMISSION,
                      args=[optional_incident, Arg("text", greedy=True, default="",
                                                   help="what fixed it; 'root cause: …' states the cause")])
    async def resolve(context: CommandContext) -> str:
        incident = which(context, adopt=True)
        reference = context.params.get("incident")
        updated = await service.resolve(incident.key, user=context.user, text=context.params["text"],
                                        ts=context.message.ts)
        lines = [f"**{updated.key} resolved** after {format_duration(updated.time_to_resolve)}"
                 + (f" ({reference} is another id of {updated.key})" if reference and reference != updated.key else "")
                 + "."]
        if updated.time_to_acknowledge is not None:
            lines.append(f"Time to acknowledge: {format_duration(updated.time_to_acknowledge)} "
                         f"({updated.acknowledged_by}).")
        else:
            lines.append("It was never acknowledged before resolution.")
        if updated.root_cause:
            lines.append(f"Root cause (as stated): {updated.root_cause}")
        lines.append(f"Postmortem stored: `{prefix}incident postmortem {updated.key}` or "
                     f"`hololoom incident postmortem {updated.key}`.")
        return "\n".join(lines)

    @registry.command("incident list", help="List incidents (open by default).", aliases=("ls",),
                      args=[Arg("which", choices=("open", "resolved", "all"), default="open")])
    async def list_incidents(context: CommandContext) -> str:
        which_ones = context.params["which"]
        incidents = service.list(None if which_ones == "all" else which_ones, limit=30,
                                 scope=engine.room_scope(context.room_id))
        if not incidents:
            return f"No {'' if which_ones == 'all' else which_ones + ' '}incidents."
        lines = [f"**{len(incidents)} {'' if which_ones == 'all' else which_ones + ' '}incident(s)**"]
        for incident in incidents:
            age = (incident.resolved_ts or context.engine.clock.now()) - incident.declared_ts
            lines.append(f"- {incident.key} ({incident.severity}, {incident.status}, {format_duration(age)}) "
                         f"{incident.title}")
        return "\n".join(lines)

    @registry.command("incident show", help="Show an incident: facts, roles, latest status.", aliases=("info",),
                      args=[optional_incident])
    async def show(context: CommandContext) -> str:
        return summary_text(service, which(context, latest=True), prefix)

    @registry.command("incident timeline", help="Show an incident's timeline (newest 40 entries).",
                      args=[optional_incident])
    async def timeline(context: CommandContext) -> str:
        incident = which(context, latest=True)
        lines = timeline_lines(incident, service.db.timeline(incident.id), limit=200)
        shown = lines[-40:]
        head = f"**{incident.key} timeline** (UTC, {len(lines)} entries{', newest 40' if len(lines) > 40 else ''})"
        return "\n".join([head, *shown])

    @registry.command("incident postmortem", help="Show the stored postmortem (a draft while the incident is open).",
                      aliases=("pm",),
                      args=[optional_incident, Arg("regenerate", bool, default=False, option=True,
                                                   help="rebuild it from the current timeline")])
    async def postmortem(context: CommandContext) -> str:
        incident = which(context, latest=True)
        return service.postmortem(incident.key, regenerate=context.params["regenerate"] or incident.is_open)
