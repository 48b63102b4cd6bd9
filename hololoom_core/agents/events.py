"""The bus event of the multi-agent capability: agent states, a routing decision, a correction, a refit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hololoom_core.events import Event


@dataclass(slots=True)
class AgentActivity(Event):
    """Something changed for the agents: `kind` is routed, answered, corrected or refitted; `states` maps agent -> state."""

    kind: str
    states: dict[str, str] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
