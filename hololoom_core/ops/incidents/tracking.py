"""What puts conversation on an incident's timeline without anyone typing a command.

- a keeper (runs inside each message's store transaction): human messages in an open incident's
  threads, or naming the incident (`INC-3`, or an adopted external id), join its timeline; the first
  such message from someone other than the declarer acknowledges the incident; sentences such as
  "@bob will add an alert" or "TODO: ..." become action items;
- a bus subscriber: `InsightDetected` (a live message) or `InsightBatchDetected` (an analysed batch,
  which carries its messages) for a message in an incident's thread joins the timeline as
  `insight:<kind>` (action-item insights also become action items). With no open incident nothing
  is read.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hololoom_core.engine.arguments import USER
from hololoom_core.engine.commands import CommandRegistry
from hololoom_core.events import Event, InsightBatchDetected, InsightDetected
from hololoom_core.models import ChatMessage, Insight, StoredMessage
from hololoom_core.ops.incidents.models import INCIDENT_REF, IncidentChanged

if TYPE_CHECKING:
    from hololoom_core.ops.incidents.service import IncidentService

ACTION_INSIGHT_KINDS = frozenset({"action_item", "action", "todo", "follow_up"})
_OWNER_WILL = re.compile(
    r"(@[A-Za-z0-9._=\-]+(?::[A-Za-z0-9.\-]+)?)\s+(?:will|to|should|is going to|please)\s+(.+?)"
    r"(?=[.;!](?:\s|$)|\n|$|\s+@[A-Za-z])",
    re.I,
)
_TODO = re.compile(r"^\s*(?:todo|action items?|ai|follow[- ]?ups?)\s*:\s*(.+?)\s*$", re.I | re.M)
_MENTION = re.compile(r"@[A-Za-z0-9._=\-]+(?::[A-Za-z0-9.\-]+)?")


def owner_from_mention(mention: str) -> str | None:
    """`@bob` → `bob`, `@bob:example.org` stays; None when it is not a user mention."""
    try:
        return USER.convert(mention)
    except ValueError:
        return None


def extract_action_items(text: str) -> list[tuple[str, str]]:
    """(owner, action) pairs stated in a message: "@bob will add an alert", "TODO: add a CI check"."""
    found: list[tuple[str, str]] = []
    for match in _OWNER_WILL.finditer(text):
        owner = owner_from_mention(match.group(1))
        action = match.group(2).strip().rstrip(".")
        if owner and len(action.split()) >= 2:
            found.append((owner, action))
    if found:
        return found
    for match in _TODO.finditer(text):
        action = match.group(1).strip().rstrip(".")
        mention = _MENTION.search(action)
        owner = owner_from_mention(mention.group(0)) if mention else None
        if len(action.split()) >= 2:
            found.append((owner or "unassigned", action))
    return found


class IncidentTracker:
    """Joins messages and insights to the incidents they belong to."""

    def __init__(self, service: IncidentService) -> None:
        self.service = service
        self.engine = service.engine
        self.prefix = service.engine.config.bot.command_prefix

    def incidents_for(self, message: StoredMessage, *, adopt: bool) -> list[tuple[int, str]]:
        """(incident number, why) for each open incident a message belongs to."""
        service = self.service
        found: dict[int, str] = {}
        if message.thread_id and message.thread_id in service.thread_index:
            found[service.thread_index[message.thread_id]] = "thread"
        for match in INCIDENT_REF.finditer(message.body):
            reference = f"INC-{match.group(1)}"
            number = service.reference_index.get(reference)
            if number is None and adopt and service.config.adopt_external_ids and service.get(reference) is None:
                candidate = service._single_open(message.room_id, message.thread_id)
                if candidate is not None and not candidate.external_ids:
                    service.adopt_external_id(candidate, reference, user=message.sender, ts=message.ts)
                    if message.thread_id:
                        service.db.link_thread(candidate.id, message.thread_id, message.room_id,
                                               f"mentions {reference}", message.ts)
                        service.reload()
                    number = candidate.id
            if number is not None:
                found.setdefault(number, "mention")
        return list(found.items())

    def keep(self, stored: StoredMessage, original: ChatMessage) -> None:
        """Keeper: put a human message on the timelines it belongs to (inside the message's transaction)."""
        if stored.is_bot or not self.service.open_by_room.get(stored.room_id):
            return
        if CommandRegistry.parse(stored.body, self.prefix) is not None:
            return  # commands record their own timeline entries
        try:
            self._track(stored)
        except Exception as exc:  # the message must be stored even if tracking it fails
            self.engine.report_error("incidents", f"message {stored.id}: {type(exc).__name__}: {exc}")

    def _track(self, stored: StoredMessage) -> None:
        for number, why in self.incidents_for(stored, adopt=True):
            db = self.service.db
            db.add_entry(number, stored.ts, "message", stored.sender, stored.body[:1000], stored.id,
                         data={"via": why})
            for owner, action in extract_action_items(stored.body):
                db.add_action_item(number, owner, action, "message", stored.ts, stored.id)
            incident = db.get(number)
            if incident is not None and incident.acknowledged_ts is None and stored.sender != incident.declared_by:
                self.service.record_acknowledgement(incident, user=stored.sender, ts=stored.ts, how="first response")

    def on_event(self, event: Event) -> None:
        """Bus subscriber: insights about messages in an incident's thread join its timeline."""
        if not isinstance(event, (InsightDetected, InsightBatchDetected)):
            return
        service = self.service
        if not service.thread_index and not service.reference_index:
            return  # no open incident: no message can belong to one
        if isinstance(event, InsightDetected):
            self._track_insight(event.insight, self.engine.messages.get(event.insight.message_id))
            return
        for insight in event.insights:
            message = event.messages.get(insight.message_id)
            self._track_insight(insight, message or self.engine.messages.get(insight.message_id))

    def _track_insight(self, insight: Insight, message: StoredMessage | None) -> None:
        if message is None or message.is_bot:
            return
        for number, _why in self.incidents_for(message, adopt=False):
            db = self.service.db
            data = {"confidence": insight.confidence, "insight_id": insight.id}
            # One line per message: a message already on the timeline becomes the insight's entry.
            if not db.mark_message_entry(number, message.id, f"insight:{insight.kind}", data):
                db.add_entry(number, message.ts, f"insight:{insight.kind}", message.sender, insight.text, message.id,
                             data=data)
            if insight.kind in ACTION_INSIGHT_KINDS:
                owner = insight.data.get("owner") or insight.data.get("assignee")
                if not owner:
                    mention = _MENTION.search(insight.text) or _MENTION.search(message.body)
                    owner = owner_from_mention(mention.group(0)) if mention else None
                db.add_action_item(number, str(owner or "unassigned"), insight.text, "insight", message.ts,
                                   message.id)
            incident = db.get(number)
            if incident is not None:
                self.engine.bus.publish(IncidentChanged(incident, "note", message.sender, self.service.config.channel,
                                                        {"insight": insight.kind}))
