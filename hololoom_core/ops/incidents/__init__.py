"""Incident management: declare, roles, Conditions/Actions/Needs updates, timeline, resolve, postmortem.

The service is `engine.capability(IncidentService)`. Its public API, used by
chat commands, the CLI and workflows (all methods take keyword arguments after the first ones;
`ts` defaults to now; each raises `IncidentError` — a `CommandError` with a one-line message — when
the incident is unknown or already resolved; each returns the updated `Incident`):

    await incidents.declare(title, *, user, room_id, severity=None, thread_id=None, message_id=None, ts=None)
        # severity "sev1".."sev4" (default ops.incidents.default_severity); thread_id = the incident's thread
    await incidents.status_update(ref, *, user, conditions="", actions="", needs="", ts=None, message_id=None)
    await incidents.set_role(ref, role, assignee, *, user, ts=None)       # role: commander|scribe|comms (+ config)
    await incidents.set_severity(ref, severity, *, user, ts=None)
    await incidents.acknowledge(ref, *, user, ts=None)
    await incidents.add_note(ref, text, *, user, ts=None, message_id=None)
    await incidents.add_action_item(ref, owner, text, *, user, ts=None)
    await incidents.set_root_cause(ref, text, *, user, ts=None)
    await incidents.link_thread(ref, thread_id, *, user, room_id=None) -> int   # messages backfilled
    await incidents.resolve(ref, *, user, text="", root_cause=None, ts=None)  # stores the postmortem

    incidents.get(ref) -> Incident | None          # "INC-3", "3" or an adopted external id
    incidents.list(status=None | "open" | "resolved") / incidents.open_incidents(room_id=None)
    incidents.timeline(ref) -> list[TimelineEntry]; incidents.action_items(ref) -> list[ActionItem]
    incidents.postmortem(ref, regenerate=False) -> str (Markdown)
    incidents.role_instructions(role) -> str; incidents.remediation(incident) -> Remediation

`ref` is an incident key such as "INC-3". `Incident` has `.key`, `.title`, `.severity`, `.status`,
`.room_id`, `.thread_id`, `.roles`, `.time_to_acknowledge`, `.time_to_resolve` and `.as_dict()`.
Every change is published on the bus as `IncidentChanged(incident, change, actor, channel, data)`
(from `hololoom_core.ops.incidents.models`); `channel` is `ops.incidents.channel` (`thread` | `room`),
for a transport that creates a room per incident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.capabilities import Capability
from hololoom_core.memory.suggest import OpenIncidents
from hololoom_core.ops.incidents.commands import install_commands
from hololoom_core.ops.incidents.models import (
    ActionItem,
    Incident,
    IncidentChanged,
    IncidentError,
    TimelineEntry,
)
from hololoom_core.ops.incidents.service import IncidentService
from hololoom_core.ops.incidents.store import INCIDENTS_V1
from hololoom_core.ops.incidents.tracking import IncidentTracker
from hololoom_core.ops.workflows.incidents import IncidentActions

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

__all__ = [
    "ActionItem", "Incident", "IncidentChanged", "IncidentError", "IncidentService", "IncidentsCapability", "TimelineEntry",
]


class IncidentsCapability(Capability):
    """Incident management; provides `IncidentService` (also as the `OpenIncidents` and `IncidentActions` protocols)."""

    name = "incidents"
    migrations = {"incidents": [INCIDENTS_V1]}

    def install(self, engine: Engine) -> None:
        """Create the incident service, its keeper and insight subscriber, and the `!incident` commands."""
        service = IncidentService(engine, engine.config.ops.incidents)
        engine.provide(service)
        engine.provide(service, as_type=OpenIncidents)  # memory's suggester stays quiet during an incident
        engine.provide(service, as_type=IncidentActions)  # workflow `incident:` steps
        tracker = IncidentTracker(service)
        engine.keepers.append(tracker.keep)
        engine.bus.subscribe(tracker.on_event)
        install_commands(engine, service)
