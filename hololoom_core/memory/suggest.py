"""Proactive suggestions: when incident signals pile up in a room, offer to declare an incident.

Rate-limited per room (`memory.suggestion_interval_s`, remembered across restarts in `kv_state`),
switchable off globally (`memory.suggestions: false`) or per room (pattern file
`rooms: {...: {suggestions: {incident: {enabled: false}}}}`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from hololoom_core.models import Insight, Reply, StoredMessage
from hololoom_core.text.entities import extract_entities

if TYPE_CHECKING:
    from hololoom_core.memory.service import MemoryService


class OpenIncidents(Protocol):
    """What the incident suggester asks of an incident service (the ops incident capability provides it)."""

    def open_incidents(self, room_id: str | None = None) -> list[Any]:
        """The incidents still open, in one room or everywhere."""
        ...

_SYMPTOMS = {
    "outage": "outage",
    "server-errors": "5xx errors",
    "error-rate": "error rate spike",
    "paged": "alerts firing",
    "degraded": "degraded performance",
    "customer-impact": "customer impact",
    "severity-word": "major incident",
    "on-fire": "major incident",
}


def incident_title(message: StoredMessage, matched: list[str]) -> str:
    """A short incident title from the message: its first service or host plus the main symptom."""
    subject = next((e.value for e in extract_entities(message.body) if e.kind in ("service", "host")), None)
    symptom = next((_SYMPTOMS[m] for m in matched if m in _SYMPTOMS), "incident signals")
    return f"{subject or message.room_id.lstrip('#!')} {symptom}"


class IncidentSuggester:
    """An engine suggester: strong, repeated incident signals → one offer to `!incident declare`."""

    def __init__(self, memory: MemoryService) -> None:
        self.memory = memory
        self.suggested = 0

    def _key(self, room_id: str) -> str:
        return f"memory.suggestion.{room_id}"

    def last_suggestion(self, room_id: str) -> float | None:
        """When this room last got a suggestion (epoch seconds), if ever."""
        value = self.memory.store.scalar("SELECT value FROM kv_state WHERE key = ?", (self._key(room_id),))
        return float(json.loads(value)) if value else None

    def __call__(self, message: StoredMessage, insights: list[Insight]) -> Reply | None:
        """Return a suggestion for this message, or None."""
        settings = self.memory.config.memory
        if not settings.suggestions:
            return None
        signals = [i for i in insights if i.kind == "incident_signal"]
        if not signals:
            return None
        rules = self.memory.patterns.for_room(message.room_id).incident_suggestion
        if not rules.get("enabled", True):
            return None
        incidents = self.memory.engine.find_capability(OpenIncidents)
        if incidents is not None and incidents.open_incidents(message.room_id):
            return None  # the room is already running an incident
        strongest = max(signals, key=lambda insight: insight.confidence)
        if strongest.confidence < float(rules["min_confidence"]):
            return None
        window = float(rules["window_minutes"])
        count = int(self.memory.store.scalar(
            "SELECT count(*) FROM insights WHERE room_id = ? AND kind = 'incident_signal' AND ts >= ? AND ts <= ?",
            (message.room_id, message.ts - window * 60, message.ts),
        ) or 0)
        if count < int(rules["min_signals"]):
            return None
        last = self.last_suggestion(message.room_id)
        if last is not None and message.ts - last < settings.suggestion_interval_s:
            return None
        with self.memory.store.transaction() as conn:
            conn.execute(
                "INSERT INTO kv_state(key, value, ts) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "value = excluded.value, ts = excluded.ts",
                (self._key(message.room_id), json.dumps(message.ts), message.ts),
            )
        self.suggested += 1
        severity = strongest.data.get("severity") or "sev3"
        title = incident_title(message, list(strongest.data.get("matched", [])))
        prefix = self.memory.config.bot.command_prefix
        minutes = settings.suggestion_interval_s / 60
        body = (
            f"This looks like an incident: {count} incident signals in {message.room_id} in the last "
            f"{window:g} min (confidence {strongest.confidence:.2f}). If it is, declare it:\n\n"
            f"`{prefix}incident declare {title} {severity}`\n\n"
            f"_Proactive suggestion — at most one every {minutes:g} min per room; "
            "`memory.suggestions: false` turns them off._"
        )
        return Reply(room_id=message.room_id, body=body, kind="suggestion", thread_id=message.thread_id,
                     in_reply_to=message.event_id)
