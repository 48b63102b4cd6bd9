"""What workflow steps need from the incident service (`engine.find_capability(IncidentActions)`).

The incident capability lives elsewhere; workflows depend only on this protocol. Each method may
return a value or an awaitable. `declare` returns the new incident's id (INC-N) as a string, a mapping
with a `key`/`label`/`incident_id`/`id` key, or an object with such an attribute.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class IncidentActions(Protocol):
    """The incident operations a workflow step can call."""

    def declare(
        self, title: str, *, user: str, room_id: str, severity: str | None = None, thread_id: str | None = None
    ) -> Any:
        """Open an incident and return it (or its id)."""
        ...

    def status_update(self, incident_id: str, *, user: str, conditions: str, actions: str, needs: str) -> Any:
        """Post a status update in the Conditions / Actions / Needs form."""
        ...

    def set_role(self, incident_id: str, role: str, assignee: str, *, user: str) -> Any:
        """Give a person an incident role (commander, scribe, comms)."""
        ...

    def resolve(self, incident_id: str, *, user: str, text: str = "") -> Any:
        """Resolve the incident."""
        ...


async def settle(value: Any) -> Any:
    """Await the value when the service returned an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


def incident_id_of(result: Any) -> str | None:
    """The incident id in whatever `declare` returned."""
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        value = result.get("key") or result.get("label") or result.get("incident_id") or result.get("id")
        return str(value) if value is not None else None
    for attribute in ("key", "label", "incident_id", "id"):
        value = getattr(result, attribute, None)
        if value is not None:
            return str(value)
    return None
