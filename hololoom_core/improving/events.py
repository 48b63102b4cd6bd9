"""The loop's bus event: one step of the self-improving loop (detected, launched, promoted, rolled back...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hololoom_core.events import Event


@dataclass(slots=True)
class ImprovementStep(Event):
    """The self-improving loop did something: `kind` is detected, launched, promoted, rolled_back, learned,
    skipped, simulated or tuned; `summary` is one line for people, `detail` the figures it rests on."""

    kind: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
