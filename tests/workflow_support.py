"""Shared pieces of the workflow tests: a hand-moved clock, engines on a temp dir, a fake incident service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hololoom_core.clock import Clock
from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.events import Event
from hololoom_core.ops.workflows.incidents import IncidentActions
from hololoom_core.ops.workflows.service import WorkflowService

# Monday 2026-11-23 08:59:00 UTC
MONDAY_0859 = datetime(2026, 11, 23, 8, 59, tzinfo=UTC).timestamp()


class ManualClock(Clock):
    """A clock that only moves when the test moves it, so timeouts need no sleeping."""

    def __init__(self, start: float = MONDAY_0859) -> None:
        self.current = start
        self._perf = 0.0

    def now(self) -> float:
        return self.current

    def perf(self) -> float:
        self._perf += 0.001
        return self._perf

    def advance(self, seconds: float) -> None:
        self.current += seconds


def make_config(data_dir: Path, *, workflows: dict[str, Any] | None = None, acl: dict[str, Any] | None = None,
                admins: list[str] | None = None) -> Config:
    """A config on a temp data dir; the scheduler ticks rarely so tests drive `tick()` themselves."""
    settings: dict[str, Any] = {"tick_seconds": 3600, **(workflows or {})}
    data: dict[str, Any] = {"hololoom": {"data_dir": str(data_dir)}, "workflows": settings}
    if acl is not None:
        data["acl"] = acl
    if admins is not None:
        data["bot"] = {"admins": admins}
    return Config.model_validate(data)


async def start_engine(config: Config, clock: ManualClock) -> Engine:
    """A started engine (startup hooks run: runs resume, scheduler starts)."""
    engine = Engine(config, clock=clock)
    await engine.start()
    return engine


def service_of(engine: Engine) -> WorkflowService:
    """The engine's workflow service."""
    service = engine.capability(WorkflowService)
    assert isinstance(service, WorkflowService)
    return service


def write_workflow(directory: Path, name: str, text: str) -> Path:
    """Write one workflow file into the user folder."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def bot_messages(engine: Engine, room: str = "#ops") -> list[str]:
    """What the bot has said in a room, oldest first."""
    rows = engine.store.query("SELECT body FROM messages WHERE is_bot = 1 AND room_id = ? ORDER BY id", (room,))
    return [row["body"] for row in rows]


@dataclass(slots=True)
class IncidentDeclared(Event):
    """Stands in for the incident capability's event (the workflow triggers match on the class name)."""

    incident: dict[str, Any]
    user: str = ""


@dataclass
class FakeIncidents:
    """A tiny in-memory incident service implementing the `IncidentActions` protocol, recording every call."""

    engine: Engine | None = None
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    count: int = 0
    publish_events: bool = False

    def declare(
        self, title: str, *, user: str, room_id: str, severity: str | None = None, thread_id: str | None = None
    ) -> dict[str, Any]:
        self.count += 1
        incident = {"id": f"INC-{self.count}", "title": title, "severity": severity, "room_id": room_id}
        self.calls.append(("declare", (title, severity), {"user": user, "room_id": room_id}))
        if self.publish_events and self.engine is not None:
            self.engine.bus.publish(IncidentDeclared(incident, user=user))
        return incident

    async def status_update(self, incident_id: str, *, user: str, conditions: str, actions: str, needs: str) -> None:
        self.calls.append(("status_update", (incident_id,), {"user": user, "conditions": conditions,
                                                            "actions": actions, "needs": needs}))

    def set_role(self, incident_id: str, role: str, assignee: str, *, user: str) -> None:
        self.calls.append(("set_role", (incident_id, role, assignee), {"user": user}))

    def open_incidents(self, room_id: str | None = None) -> list[dict[str, Any]]:
        return []

    def resolve(self, incident_id: str, *, user: str, text: str = "") -> None:
        self.calls.append(("resolve", (incident_id,), {"user": user, "summary": text}))


assert isinstance(FakeIncidents(), IncidentActions)
