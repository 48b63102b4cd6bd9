"""Starts workflows from what happens: chat messages, insights and incident events on the bus, and cron schedules.

Bus callbacks never wait: a matching trigger spawns the run as a background task. A workflow's own
events (for example an incident it declares) never trigger that same workflow again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import fields, is_dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import croniter

from hololoom_core.engine.commands import CommandRegistry
from hololoom_core.events import Event, InsightBatchDetected, InsightDetected, MessageStored
from hololoom_core.models import Insight, StoredMessage
from hololoom_core.ops.workflows.expressions import ExpressionError, parse_template, render_value
from hololoom_core.ops.workflows.schema import TriggerSpec, WorkflowDefinition
from hololoom_core.text.durations import parse_duration
from hololoom_core.text.linear import cached_linear

if TYPE_CHECKING:
    from hololoom_core.ops.workflows.service import WorkflowService

log = logging.getLogger(__name__)
MAX_MESSAGE_AGE_S = 15 * 60
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _plain(value: Any, depth: int = 0) -> Any:
    """Event payloads as plain data (dataclasses and objects become dicts), for trigger variables."""
    if depth > 3:
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name), depth + 1) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "__dict__"):
        return {k: _plain(v, depth + 1) for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


class TriggerDispatcher:
    """Matches events against every workflow's triggers and starts the runs."""

    def __init__(self, service: WorkflowService) -> None:
        self.service = service
        self._last_started: dict[tuple[str, int, str], float] = {}

    def _triggers(self, kind: str) -> list[tuple[WorkflowDefinition, TriggerSpec]]:
        return [(definition, trigger) for definition in self.service.library.all()
                for trigger in definition.triggers if trigger.kind == kind]

    # -- bus -------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Bus subscriber: look at messages, insights and incident events; never blocks."""
        if not self.service.config.enabled:
            return
        try:
            if isinstance(event, MessageStored):
                self.on_message(event.message)
            elif isinstance(event, InsightDetected):
                self.on_insight(event.insight)
            elif isinstance(event, InsightBatchDetected):
                if self._triggers("insight"):
                    for insight in event.insights:
                        self.on_insight(insight)
            elif type(event).__name__.startswith("Incident"):
                name = type(event).__name__[len("Incident"):]
                self.on_incident(_CAMEL.sub("_", name).lower() or "updated", _plain(event))
        except Exception as exc:  # a trigger problem must never break the pipeline
            log.exception("workflow trigger failed")
            self.service.engine.report_error("workflows", f"trigger: {type(exc).__name__}: {exc}")

    def on_message(self, message: StoredMessage) -> None:
        """Start workflows whose message pattern matches a person's (redacted) message."""
        engine = self.service.engine
        if message.is_bot or message.sender == engine.bot_id:
            return
        if message.ts < self.service.now() - MAX_MESSAGE_AGE_S:
            return  # history filled in after downtime is not news
        if CommandRegistry.parse(message.body, engine.config.bot.command_prefix) is not None:
            return
        for definition, trigger in self._triggers("message"):
            if not self._room_allowed(trigger, message.room_id):
                continue
            match = cached_linear(trigger.value).search(message.body)  # RE2: linear in the message
            if match is None:
                continue
            groups = {key: value for key, value in match.groupdict().items() if value is not None}
            trigger_vars = {"text": message.body, "sender": message.sender, "room": message.room_id,
                            "message_id": message.id, "match": match.group(0), "groups": groups}
            self.fire(definition, trigger, groups, trigger_vars, user=message.sender, room_id=message.room_id,
                      thread_id=message.thread_id)

    def on_insight(self, insight: Insight) -> None:
        """Start workflows waiting for this kind of insight (at or above their confidence)."""
        source = self.service.engine.messages.get(insight.message_id)
        for definition, trigger in self._triggers("insight"):
            if trigger.value not in (insight.kind, "*"):
                continue
            if insight.confidence < trigger.options.get("min_confidence", 0.0):
                continue
            if not self._room_allowed(trigger, insight.room_id):
                continue
            trigger_vars = {"insight": insight.kind, "text": insight.text, "confidence": insight.confidence,
                            "message_id": insight.message_id, "room": insight.room_id, "data": _plain(insight.data)}
            self.fire(definition, trigger, {}, trigger_vars,
                      user=source.sender if source is not None else self.service.engine.bot_id,
                      room_id=insight.room_id, thread_id=source.thread_id if source is not None else None)

    def on_incident(self, event_kind: str, data: dict[str, Any]) -> None:
        """Start workflows waiting for an incident event (`declared`, `resolved`...); callable directly too."""
        incident = nested if isinstance(nested := data.get("incident"), dict) else {}
        merged = {**incident, **{k: v for k, v in data.items() if k != "incident"}}
        room = str(merged.get("room_id") or merged.get("room") or self.service.config.default_room)
        identifier = merged.get("label") or merged.get("incident_id") or merged.get("id")
        for definition, trigger in self._triggers("incident"):
            if trigger.value not in (event_kind, "*"):
                continue
            if not self._room_allowed(trigger, room):
                continue
            trigger_vars = {"event": event_kind, "id": str(identifier or ""), "title": merged.get("title", ""),
                            "severity": merged.get("severity", ""), "room": room, "data": merged}
            user = str(merged.get("user") or merged.get("commander") or self.service.engine.bot_id)
            self.fire(definition, trigger, {}, trigger_vars, user=user, room_id=room,
                      thread_id=merged.get("thread_id") if isinstance(merged.get("thread_id"), str) else None)

    # -- starting ------------------------------------------------------------------------

    def _room_allowed(self, trigger: TriggerSpec, room_id: str) -> bool:
        rooms = trigger.options.get("rooms")
        return not rooms or any(fnmatchcase(room_id.lower(), pattern.lower()) for pattern in rooms)

    def trigger_args(self, trigger: TriggerSpec, base: dict[str, str], trigger_vars: dict[str, Any]) -> dict[str, str]:
        """The run's arguments: regex groups, then the trigger's `args:` rendered with `trigger.*`."""
        args = dict(base)
        variables = {"trigger": {"kind": trigger.kind, **trigger_vars}}
        for name, raw in trigger.options.get("args", {}).items():
            value = parse_template(raw).value(variables) if isinstance(raw, str) else raw
            args[name] = render_value(value)
        return args

    def fire(self, definition: WorkflowDefinition, trigger: TriggerSpec, base_args: dict[str, str],
             trigger_vars: dict[str, Any], *, user: str, room_id: str, thread_id: str | None) -> bool:
        """Start a triggered run in the background, unless it is cooling down or would trigger itself."""
        from hololoom_core.ops.workflows.service import ACTIVE_WORKFLOWS

        if definition.name in ACTIVE_WORKFLOWS.get():
            return False
        now = self.service.now()
        key = (definition.name, trigger.index, room_id)
        cooldown = parse_duration(trigger.options.get("cooldown", self.service.config.trigger_cooldown))
        if key in self._last_started and now - self._last_started[key] < cooldown:
            return False
        try:
            args = self.trigger_args(trigger, base_args, trigger_vars)
        except ExpressionError as exc:
            self.service.engine.report_error("workflows", f"{definition.source}:{trigger.line}: trigger args: {exc}")
            return False
        self._last_started[key] = now
        self.service.spawn(self.start(definition, trigger, args, trigger_vars, user=user, room_id=room_id,
                                      thread_id=thread_id))
        return True

    async def start(self, definition: WorkflowDefinition, trigger: TriggerSpec, args: dict[str, str],
                    trigger_vars: dict[str, Any], *, user: str, room_id: str, thread_id: str | None) -> None:
        """Launch the run and post what it says in the room."""
        from hololoom_core.ops.workflows.service import WorkflowError

        try:
            run, out = await self.service.launch(definition, args, user=user, room_id=room_id, thread_id=thread_id,
                                                 trigger=trigger.kind, trigger_vars=trigger_vars)
        except WorkflowError as exc:
            self.service.engine.report_error(
                "workflows", f"{definition.source}:{trigger.line}: {trigger.kind} trigger could not start: {exc}")
            return
        self.service.post(room_id, thread_id, "\n\n".join(out))

    async def fire_schedules(self, now: float) -> int:
        """Start every cron-triggered workflow that is due (at most once per check, even after downtime)."""
        started_ts = self.service.started_ts
        if started_ts is None:
            return 0
        zone = ZoneInfo(self.service.config.timezone)
        fired = 0
        for definition, trigger in self._triggers("cron"):
            last = self.service.runs.last_fire(definition.name, trigger.index)
            base = datetime.fromtimestamp(last if last is not None else started_ts, tz=zone)
            due = croniter(trigger.value, base).get_next(float)
            if due > now or not self.service.runs.claim_fire(definition.name, trigger.index, last, now):
                continue
            room_id = trigger.options.get("room") or self.service.config.default_room
            trigger_vars = {"schedule": trigger.value, "due": datetime.fromtimestamp(due, tz=zone).isoformat()}
            try:
                args = self.trigger_args(trigger, {}, trigger_vars)
            except ExpressionError as exc:
                self.service.engine.report_error("workflows", f"{definition.source}:{trigger.line}: {exc}")
                continue
            await self.start(definition, trigger, args, trigger_vars, user="schedule", room_id=room_id,
                             thread_id=None)
            fired += 1
        return fired
