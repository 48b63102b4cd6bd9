"""The predictive-quality config section: what counts as a bad outcome, the path budget, where the model lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hololoom_core.config.base import StrictModel


class QualityConfig(StrictModel):
    """How the quality predictor labels outcomes, how much it may send down the expensive path, and its state file."""

    bad_quality_below: float = Field(default=0.8, gt=0, le=1)
    reask_window_minutes: float = Field(default=5.0, gt=0, le=1440)
    reask_similarity: float = Field(default=0.6, gt=0, le=1)
    expensive_share: float = Field(default=0.3, ge=0, le=1)
    model_file: Path | None = None
    apply_after_outcomes: int = Field(default=50, ge=0, le=1_000_000)
    save_every: int = Field(default=25, ge=1, le=100_000)
