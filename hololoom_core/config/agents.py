"""The `agents:` config section: the router's thresholds, collaboration and the optional model selector."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hololoom_core.config.base import StrictModel


class AgentsConfig(StrictModel):
    """How questions are routed to the five specialist agents and when they collaborate."""

    min_confidence: float = Field(default=0.45, ge=0, le=1)
    collaboration: bool = True
    collaboration_threshold: float = Field(default=0.35, ge=0, le=1)
    max_collaborators: int = Field(default=3, ge=2, le=5)
    agreement_threshold: float = Field(default=0.45, ge=0.05, le=1)
    selector: Literal["off", "ollama"] = "off"
    selector_confidence: float = Field(default=0.8, ge=0, le=1)
    correction_weight: int = Field(default=3, ge=1, le=20)
    correction_window_minutes: float = Field(default=30.0, gt=0, le=10_080)

    @model_validator(mode="after")
    def _thresholds(self) -> AgentsConfig:
        if self.collaboration_threshold > 0.5:
            raise ValueError("collaboration_threshold above 0.5 can never be met by two agents at once; use <= 0.5")
        return self
