"""The incident service: declare, acknowledge, assign roles, post status updates, re-rate, resolve.

Chat commands, the CLI and workflows all go through this one object
(`engine.capability(IncidentService)`); its public methods are documented in the package docstring.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hololoom_core.config import IncidentsConfig, IncidentTarget, default_incident_targets
from hololoom_core.llm.runbooks import RunbookMatch
from hololoom_core.ops.incidents.models import (
    INCIDENT_REF,
    ActionItem,
    Incident,
    IncidentChanged,
    IncidentError,
    TimelineEntry,
    incident_key,
    parse_severity,
)
from hololoom_core.ops.incidents.postmortem import format_duration, render_postmortem
from hololoom_core.ops.incidents.store import IncidentStore
from hololoom_core.rooms import RoomScope
from hololoom_core.text.terms import term_set

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

ROLE_ALIASES = {
    "ic": "commander",
    "incident-commander": "commander",
    "lead": "commander",
    "notes": "scribe",
    "notetaker": "scribe",
    "communications": "comms",
    "communication": "comms",
}

_ROOT_CAUSE = re.compile(r"\broot[ -]?cause\s*(?:was|is|:|-|—)\s*(.+)", re.I | re.S)
_CAN_LABEL = re.compile(r"(?:^|(?<=[\s;|]))(conditions?|actions?|needs?)\s*:", re.I)


@dataclass(frozen=True, slots=True)
class Remediation:
    """What might help with an incident: matching runbooks and similar past incidents (with a score)."""

    runbooks: list[RunbookMatch]
    related: list[tuple[Incident, float]]


def parse_status_update(text: str) -> dict[str, str]:
    """Split `conditions: ... actions: ... needs: ...` into its three parts (unlabelled text = conditions)."""
    parts = {"conditions": "", "actions": "", "needs": ""}
    labels = list(_CAN_LABEL.finditer(text))
    if not labels:
        parts["conditions"] = text.strip()
        return parts
    lead = text[: labels[0].start()].strip(" ;|\n")
    if lead:
        parts["conditions"] = lead
    for index, label in enumerate(labels):
        end = labels[index + 1].start() if index + 1 < len(labels) else len(text)
        name = label.group(1).lower()
        name = name if name.endswith("s") else name + "s"
        value = text[label.end() : end].strip(" ;|\n")
        parts[name] = (parts[name] + " " + value).strip() if parts[name] else value
    return parts


def split_root_cause(text: str) -> str | None:
    """The part after "root cause:" in a resolution note, if the note states one."""
    match = _ROOT_CAUSE.search(text)
    return match.group(1).strip().rstrip(".") if match else None


class IncidentService:
    """Runs incidents for the engine: every change is stored, put on the timeline and published on the bus."""

    def __init__(self, engine: Engine, config: IncidentsConfig) -> None:
        self.engine = engine
        self.config = config
        self.db = IncidentStore(engine.store)
        self.thread_index: dict[str, int] = {}
        self.reference_index: dict[str, int] = {}
        self.open_by_room: dict[str, list[int]] = {}
        self.reload()

    # -- indexes (kept in memory so the per-message keeper stays cheap) ------------------------

    def reload(self) -> None:
        """Rebuild the in-memory index of open incidents, their threads and their ids."""
        self.thread_index = self.db.open_threads()
        self.reference_index = {}
        self.open_by_room = {}
        for incident in self.db.list(status="open", limit=10_000):
            self.reference_index[incident.key] = incident.id
            for external in incident.external_ids:
                self.reference_index[external.upper()] = incident.id
            self.open_by_room.setdefault(incident.room_id, []).append(incident.id)

    # -- looking up --------------------------------------------------------------------------

    @property
    def roles_available(self) -> list[str]:
        """The role names incidents use (`ops.incidents.role_instructions` keys)."""
        return list(self.config.role_instructions)

    def role_instructions(self, role: str) -> str:
        """What the holder of a role is expected to do."""
        return self.config.role_instructions[self.normalise_role(role)]

    def normalise_role(self, role: str) -> str:
        """`IC` → `commander`; raises IncidentError for an unknown role."""
        name = ROLE_ALIASES.get(role.lower(), role.lower())
        if name not in self.config.role_instructions:
            raise IncidentError(f"unknown role '{role}'; roles are {', '.join(self.roles_available)}")
        return name

    def target(self, severity: str) -> IncidentTarget:
        """The acknowledge/resolve target of a severity (config, else the built-in default)."""
        return self.config.targets.get(severity) or default_incident_targets()[severity]

    def get(self, reference: str) -> Incident | None:
        """An incident by `INC-N`, `N`, or an external id it adopted."""
        text = reference.strip().upper()
        match = re.fullmatch(r"(?:INC-)?(\d{1,9})", text)
        if match:
            incident = self.db.get(int(match.group(1)))
            if incident is not None:
                return incident
        return self.db.by_external_id(text)

    def require(self, reference: str) -> Incident:
        """An incident by reference, or IncidentError naming what is open."""
        incident = self.get(reference)
        if incident is None:
            raise IncidentError(f"no incident {reference}{self._open_hint()}")
        return incident

    def _open_hint(self, room_id: str | None = None) -> str:
        open_ones = self.open_incidents(room_id)
        if not open_ones:
            return "; none is open"
        return "; open: " + ", ".join(incident.key for incident in open_ones[:8])

    def find(self, reference: str | None, *, room_id: str, thread_id: str | None = None,
             adopt: bool = False, user: str = "", ts: float | None = None, latest: bool = False) -> Incident:
        """The incident a command means: named, else the one whose thread this is, else the room's only open one.

        With `adopt`, an unknown `INC-N` (a number from another tracker) is adopted as an external id
        by the room's only open incident, so `!incident resolve INC-4821` works after `!incident open`.
        With `latest` (for read-only commands), a resolved incident's thread counts, and a room with no
        open incident falls back to its most recent one.
        """
        if reference:
            incident = self.get(reference)
            if incident is not None:
                return incident
            if adopt and self.config.adopt_external_ids and INCIDENT_REF.fullmatch(reference):
                candidate = self._single_open(room_id, thread_id)
                if candidate is not None:
                    self.adopt_external_id(candidate, reference.upper(), user=user or candidate.declared_by, ts=ts)
                    return self.require(candidate.key)
            raise IncidentError(f"no incident {reference}{self._open_hint(room_id)}")
        if thread_id and thread_id in self.thread_index:
            return self.require(incident_key(self.thread_index[thread_id]))
        if latest and thread_id:
            number = self.db.incident_for_thread(thread_id)
            if number is not None:
                return self.require(incident_key(number))
        open_here = self.open_incidents(room_id)
        if len(open_here) == 1:
            return open_here[0]
        if not open_here and latest:
            recent = self.db.list(room_id=room_id, limit=1)
            if recent:
                return recent[0]
        if not open_here:
            raise IncidentError("no open incident in this room; declare one with `!incident declare TITLE [sev1-4]`")
        keys = ", ".join(incident.key for incident in open_here)
        raise IncidentError(f"several incidents are open here ({keys}); name one, e.g. `{open_here[0].key}`")

    def _single_open(self, room_id: str, thread_id: str | None) -> Incident | None:
        if thread_id and thread_id in self.thread_index:
            return self.db.get(self.thread_index[thread_id])
        numbers = self.open_by_room.get(room_id, [])
        return self.db.get(numbers[0]) if len(numbers) == 1 else None

    def list(self, status: str | None = None, limit: int = 100, scope: RoomScope | None = None) -> list[Incident]:
        """Incidents, newest first (`status`: open, resolved or None for all), in the rooms of `scope`."""
        return self.db.list(status=status, limit=limit, scope=scope)

    def open_incidents(self, room_id: str | None = None) -> builtins.list[Incident]:
        """Open incidents, newest first, optionally only one room's."""
        return self.db.list(status="open", room_id=room_id)

    def timeline(self, reference: str) -> builtins.list[TimelineEntry]:
        """An incident's timeline, oldest first."""
        return self.db.timeline(self.require(reference).id)

    def action_items(self, reference: str) -> builtins.list[ActionItem]:
        """An incident's action items, oldest first."""
        return self.db.action_items(self.require(reference).id)

    def remediation(self, incident: Incident, extra_text: str = "") -> Remediation:
        """Runbooks matching the incident and resolved incidents that looked alike."""
        query = " ".join(filter(None, [incident.title, incident.root_cause or "", extra_text]))
        runbooks = self.engine.runbooks.search(query, limit=3) if query.strip() else []
        wanted = term_set(query)
        related: list[tuple[Incident, float]] = []
        if wanted and self.config.related_limit:
            for past in self.db.list(status="resolved", limit=500):
                if past.id == incident.id:
                    continue
                terms = term_set(" ".join(filter(None, [past.title, past.root_cause or "", past.resolution or ""])))
                if not terms:
                    continue
                score = len(wanted & terms) / len(wanted | terms)
                if score >= 0.15:
                    related.append((past, round(score, 3)))
            related.sort(key=lambda pair: pair[1], reverse=True)
        return Remediation(runbooks, related[: self.config.related_limit])

    # -- changing ----------------------------------------------------------------------------

    def _now(self, ts: float | None) -> float:
        return ts if ts is not None else self.engine.clock.now()

    def _publish(self, number: int, change: str, actor: str, **data: object) -> Incident:
        incident = self.db.get(number)
        assert incident is not None
        self.engine.bus.publish(IncidentChanged(incident, change, actor, self.config.channel, dict(data)))
        return incident

    def _require_open(self, incident: Incident) -> None:
        if not incident.is_open:
            raise IncidentError(f"{incident.key} is already resolved")

    async def declare(self, title: str, *, user: str, room_id: str, severity: str | None = None,
                      thread_id: str | None = None, message_id: int | None = None,
                      ts: float | None = None) -> Incident:
        """Open a new incident; `thread_id` becomes its thread (messages there join the timeline)."""
        if message_id is not None:  # the same command run again after a crash must not declare twice
            existing = self.engine.store.scalar("SELECT id FROM incidents WHERE declared_message_id = ?",
                                                (message_id,))
            if existing is not None:
                return self.require(incident_key(existing))
        title = " ".join(title.split())
        if not title:
            raise IncidentError("an incident needs a title, e.g. `!incident declare checkout-api 500s sev2`")
        chosen = parse_severity(severity) if severity else self.config.default_severity
        if chosen is None:
            raise IncidentError(f"'{severity}' is not a severity; use sev1 (worst) to sev4")
        when = self._now(ts)
        number = self.db.create(title=title, severity=chosen, room_id=room_id, thread_id=thread_id,
                                declared_by=user, declared_ts=when, message_id=message_id)
        if thread_id:
            self.db.link_thread(number, thread_id, room_id, "declared", when)
        self.db.add_entry(number, when, "declared", user, f"{chosen}: {title}", message_id)
        self.reload()
        return self._publish(number, "declared", user, thread_id=thread_id)

    async def acknowledge(self, reference: str, *, user: str, ts: float | None = None,
                          how: str = "command") -> Incident:
        """Record the first acknowledgement (later ones change nothing)."""
        return self.record_acknowledgement(self.require(reference), user=user, ts=ts, how=how)

    def record_acknowledgement(self, incident: Incident, *, user: str, ts: float | None = None,
                               how: str = "command") -> Incident:
        """The synchronous core of `acknowledge` (the message keeper calls it inside a transaction)."""
        if incident.acknowledged_ts is not None or not incident.is_open:
            return incident
        when = self._now(ts)
        self.db.update(incident.id, acknowledged_ts=when, acknowledged_by=user)
        self.db.add_entry(incident.id, when, "acknowledged", user,
                          f"after {format_duration(when - incident.declared_ts)} ({how})")
        return self._publish(incident.id, "acknowledged", user, how=how)

    async def set_role(self, reference: str, role: str, assignee: str, *, user: str,
                       ts: float | None = None) -> Incident:
        """Give `assignee` a role (commander, scribe, comms, ...); the previous holder is replaced."""
        incident = self.require(reference)
        self._require_open(incident)
        role = self.normalise_role(role)
        when = self._now(ts)
        previous = self.db.set_role(incident.id, role, assignee, user, when)
        note = f" (was {previous})" if previous and previous != assignee else ""
        self.db.add_entry(incident.id, when, "role", user, f"{assignee} is {role}{note}",
                          data={"role": role, "user": assignee, "previous": previous})
        await self.acknowledge(incident.key, user=user, ts=when, how=f"{role} assigned")
        return self._publish(incident.id, "role", user, role=role, assignee=assignee, previous=previous)

    async def status_update(self, reference: str, *, user: str, conditions: str = "", actions: str = "",
                            needs: str = "", ts: float | None = None, message_id: int | None = None) -> Incident:
        """Post a Conditions / Actions / Needs update (at least one part)."""
        incident = self.require(reference)
        self._require_open(incident)
        parts = {"conditions": conditions.strip(), "actions": actions.strip(), "needs": needs.strip()}
        if not any(parts.values()):
            raise IncidentError("a status update needs conditions, actions or needs")
        when = self._now(ts)
        text = " | ".join(f"{name.capitalize()}: {value}" for name, value in parts.items() if value)
        self.db.add_entry(incident.id, when, "status", user, text, message_id, data=parts)
        await self.acknowledge(incident.key, user=user, ts=when, how="status update")
        return self._publish(incident.id, "status", user, **parts)

    async def set_severity(self, reference: str, severity: str, *, user: str, ts: float | None = None) -> Incident:
        """Change the severity (sev1 is the worst)."""
        incident = self.require(reference)
        self._require_open(incident)
        chosen = parse_severity(severity)
        if chosen is None:
            raise IncidentError(f"'{severity}' is not a severity; use sev1 (worst) to sev4")
        if chosen == incident.severity:
            return incident
        when = self._now(ts)
        self.db.update(incident.id, severity=chosen)
        direction = "raised" if chosen < incident.severity else "lowered"
        self.db.add_entry(incident.id, when, "severity", user, f"{incident.severity} → {chosen} ({direction})",
                          data={"from": incident.severity, "to": chosen})
        self.reload()
        return self._publish(incident.id, "severity", user, previous=incident.severity, severity=chosen)

    async def add_note(self, reference: str, text: str, *, user: str, ts: float | None = None,
                       message_id: int | None = None, kind: str = "note") -> Incident:
        """Put a note (or a tagged message, `kind="message"`) on the timeline."""
        incident = self.require(reference)
        text = text.strip()
        if not text:
            raise IncidentError("the note is empty")
        self.db.add_entry(incident.id, self._now(ts), kind, user, text, message_id)
        return self._publish(incident.id, "note", user, text=text)

    async def add_action_item(self, reference: str, owner: str, text: str, *, user: str,
                              ts: float | None = None, message_id: int | None = None,
                              source: str = "command") -> Incident:
        """Record a follow-up with an owner (it appears in the postmortem)."""
        incident = self.require(reference)
        text = text.strip().rstrip(".")
        if not text:
            raise IncidentError("the action item is empty")
        when = self._now(ts)
        if self.db.add_action_item(incident.id, owner, text, source, when, message_id):
            self.db.add_entry(incident.id, when, "action", user, f"action item for {owner}: {text}",
                              message_id if source == "command" else None)
        return self._publish(incident.id, "action", user, owner=owner, text=text)

    async def set_root_cause(self, reference: str, text: str, *, user: str, ts: float | None = None) -> Incident:
        """State the root cause (shown as stated in the postmortem)."""
        incident = self.require(reference)
        text = text.strip().rstrip(".")
        if not text:
            raise IncidentError("the root cause is empty")
        when = self._now(ts)
        self.db.update(incident.id, root_cause=text)
        self.db.add_entry(incident.id, when, "rootcause", user, f"root cause stated: {text}")
        if not incident.is_open:
            self._store_postmortem(incident.id)
        return self._publish(incident.id, "note", user, root_cause=text)

    async def link_thread(self, reference: str, thread_id: str, *, user: str, room_id: str | None = None,
                          ts: float | None = None, reason: str = "linked") -> int:
        """Link a thread: its messages (from `backfill_minutes` before the declaration) join the timeline."""
        incident = self.require(reference)
        when = self._now(ts)
        if self.db.link_thread(incident.id, thread_id, room_id or incident.room_id, reason, when):
            self.db.add_entry(incident.id, when, "linked", user, f"thread {thread_id} linked ({reason})")
        added = self.backfill(incident, thread_id)
        self.reload()
        self._publish(incident.id, "linked", user, thread_id=thread_id, backfilled=added)
        return added

    def backfill(self, incident: Incident, thread_id: str) -> int:
        """Put a linked thread's human messages from around the incident on its timeline; returns how many."""
        start = incident.declared_ts - self.config.backfill_minutes * 60
        end = incident.resolved_ts if incident.resolved_ts is not None else float("inf")
        prefix = self.engine.config.bot.command_prefix
        added = 0
        for message in self.engine.messages.thread(thread_id, limit=2000):
            if message.is_bot or message.redacted or not (start <= message.ts <= end):
                continue
            if message.body.strip().startswith(prefix):
                continue
            if self.db.add_entry(incident.id, message.ts, "message", message.sender, message.body[:1000], message.id):
                added += 1
        return added

    def adopt_external_id(self, incident: Incident, reference: str, *, user: str, ts: float | None = None) -> None:
        """Record another tracker's id (e.g. INC-4821) for an incident and link the threads that mention it."""
        if reference in incident.external_ids:
            return
        when = self._now(ts)
        self.db.update(incident.id, external_ids=[*incident.external_ids, reference])
        self.db.add_entry(incident.id, when, "linked", user, f"{reference} recorded as another id of {incident.key}")
        since = incident.declared_ts - self.config.backfill_minutes * 60
        for hit in self.engine.messages.search(reference, limit=50, room_id=incident.room_id):
            message = hit.message
            if message.ts < since or reference.lower() not in message.body.lower():
                continue
            thread = message.thread_id or message.event_id
            if self.db.link_thread(incident.id, thread, incident.room_id, f"mentions {reference}", when):
                self.backfill(incident, thread)
        self.reload()

    async def resolve(self, reference: str, *, user: str, text: str = "", root_cause: str | None = None,
                      ts: float | None = None) -> Incident:
        """Resolve: record the resolution (and the root cause, when stated), then generate the postmortem."""
        incident = self.require(reference)
        self._require_open(incident)
        when = self._now(ts)
        stated_cause = root_cause or split_root_cause(text) or incident.root_cause
        self.db.update(incident.id, status="resolved", resolved_ts=when, resolved_by=user,
                       resolution=text.strip() or None, root_cause=stated_cause)
        duration = format_duration(when - incident.declared_ts)
        self.db.add_entry(incident.id, when, "resolved", user,
                          f"after {duration}" + (f": {text.strip()}" if text.strip() else ""))
        self._store_postmortem(incident.id)
        self.reload()
        return self._publish(incident.id, "resolved", user, text=text)

    def _store_postmortem(self, number: int) -> str:
        incident = self.db.get(number)
        assert incident is not None
        status_text = " ".join(
            entry.data.get("conditions", "") for entry in self.db.timeline(number) if entry.kind == "status"
        )
        markdown = render_postmortem(
            incident,
            self.db.timeline(number),
            self.db.action_items(number),
            self.remediation(incident, status_text),
            self.target(incident.severity),
            generated_ts=self.engine.clock.now(),
        )
        self.db.update(number, postmortem=markdown, postmortem_ts=self.engine.clock.now())
        return markdown

    def postmortem(self, reference: str, *, regenerate: bool = False) -> str:
        """The stored postmortem (generated now when missing, or when asked to regenerate)."""
        incident = self.require(reference)
        stored = self.db.postmortem(incident.id)
        if stored and not regenerate:
            return stored
        markdown = self._store_postmortem(incident.id)
        self._publish(incident.id, "postmortem", "hololoom")
        return markdown
