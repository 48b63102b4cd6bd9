"""Memory config section: knowledge-graph memory, hybrid recall and the proactive agent."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hololoom_core.config.base import StrictModel


class MemoryConfig(StrictModel):
    """Knowledge-graph memory, hybrid recall and the proactive agent (patterns, suggestions)."""

    patterns_file: Path | None = None
    patterns_check_s: float = Field(default=1.0, ge=0, le=3600)
    suggestions: bool = True
    suggestion_interval_s: float = Field(default=900.0, ge=0)
    recall_k: int = Field(default=8, ge=1, le=100)
    min_similarity: float = Field(default=0.5, ge=0, le=1)
    embed_batch_size: int = Field(default=256, ge=1, le=8192)
    embed_delay_s: float = Field(default=0.2, ge=0, le=60)
