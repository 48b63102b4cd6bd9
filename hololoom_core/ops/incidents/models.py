"""Incident data: the incident, its timeline entries and action items, the bus event, severities."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hololoom_core.engine.arguments import ArgType, CommandError
from hololoom_core.events import Event

SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
_SEVERITY = re.compile(r"^(?:sev|s|p)?([1-4])$", re.I)
INCIDENT_REF = re.compile(r"\bINC-(\d{1,9})\b", re.I)


class IncidentError(CommandError):
    """An incident operation that cannot be done, as one line (unknown id, already resolved, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, show_usage=False)


def parse_severity(text: str) -> str | None:
    """`sev2`, `SEV2`, `s2`, `p2` or `2` → `sev2`; None when the text is not a severity."""
    match = _SEVERITY.match(text.strip())
    return f"sev{match.group(1)}" if match else None


def severity_arg(text: str) -> str:
    """Converter for typed command arguments: a severity or ValueError."""
    severity = parse_severity(text)
    if severity is None:
        raise ValueError(f"must be a severity sev1 (worst) to sev4, got '{text}'")
    return severity


def incident_key(number: int) -> str:
    """`INC-7` for incident 7."""
    return f"INC-{number}"


def _incident_ref(text: str) -> str:
    if not re.fullmatch(r"INC-\d{1,9}", text, re.I):
        raise ValueError(f"must be an incident id such as INC-7, got '{text}'")
    return text.upper()


incident_ref_arg = ArgType("incident id", _incident_ref, "INC-N", names_positional=True)
severity_type = ArgType("severity", severity_arg, "sev1-4", names_positional=True)


@dataclass(slots=True)
class Incident:
    """One incident: what, how bad, where it is discussed, who declared and resolved it, and when."""

    id: int
    title: str
    severity: str
    status: str
    room_id: str
    thread_id: str | None
    declared_by: str
    declared_ts: float
    acknowledged_ts: float | None = None
    acknowledged_by: str | None = None
    resolved_ts: float | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    root_cause: str | None = None
    external_ids: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)
    postmortem_ts: float | None = None

    @property
    def key(self) -> str:
        """The id people type: INC-N."""
        return incident_key(self.id)

    @property
    def is_open(self) -> bool:
        """True until the incident is resolved."""
        return self.status != "resolved"

    @property
    def time_to_acknowledge(self) -> float | None:
        """Seconds from declaration to the first acknowledgement, or None before it."""
        return None if self.acknowledged_ts is None else max(0.0, self.acknowledged_ts - self.declared_ts)

    @property
    def time_to_resolve(self) -> float | None:
        """Seconds from declaration to resolution, or None while open."""
        return None if self.resolved_ts is None else max(0.0, self.resolved_ts - self.declared_ts)

    def label(self) -> str:
        """`INC-3 (sev2) checkout-api returning 500s`."""
        return f"{self.key} ({self.severity}) {self.title}"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "id": self.key,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "room": self.room_id,
            "thread": self.thread_id,
            "declared_by": self.declared_by,
            "declared_ts": self.declared_ts,
            "acknowledged_ts": self.acknowledged_ts,
            "acknowledged_by": self.acknowledged_by,
            "resolved_ts": self.resolved_ts,
            "resolved_by": self.resolved_by,
            "resolution": self.resolution,
            "root_cause": self.root_cause,
            "external_ids": list(self.external_ids),
            "roles": dict(self.roles),
            "time_to_acknowledge_s": self.time_to_acknowledge,
            "time_to_resolve_s": self.time_to_resolve,
        }


@dataclass(slots=True)
class TimelineEntry:
    """One line of an incident's timeline: when, what kind, who, and the text."""

    id: int
    incident_id: int
    ts: float
    kind: str
    actor: str
    text: str
    message_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"ts": self.ts, "kind": self.kind, "actor": self.actor, "text": self.text,
                "message_id": self.message_id, "data": dict(self.data)}


@dataclass(slots=True)
class ActionItem:
    """A follow-up with an owner ("unassigned" when nobody was named)."""

    id: int
    incident_id: int
    owner: str
    text: str
    source: str
    ts: float
    message_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"owner": self.owner, "text": self.text, "source": self.source, "ts": self.ts}


@dataclass(slots=True)
class IncidentChanged(Event):
    """An incident was declared, acknowledged, updated, re-assigned, re-rated or resolved.

    `change` is one of: declared, acknowledged, role, status, severity, note, action, linked,
    resolved, postmortem. `channel` is `ops.incidents.channel` (`thread` or `room`): a transport
    that can create rooms creates one for a `declared` incident when it says `room`.
    """

    incident: Incident
    change: str
    actor: str
    channel: str = "thread"
    data: dict[str, Any] = field(default_factory=dict)
