"""Bus events of workflow runs, for the app and the dashboards."""

from __future__ import annotations

from dataclasses import dataclass

from hololoom_core.events import Event


@dataclass(slots=True)
class WorkflowRunChanged(Event):
    """A workflow run started, paused, resumed or finished."""

    run_id: int
    workflow: str
    status: str
    room_id: str
    detail: str = ""
