"""Memory config section: knowledge-graph memory, hybrid recall and the proactive agent."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

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
    # Rooms are walls: a reader in a room reads that room, plus the rooms listed for it here
    # (`"#ops": ["#public"]` lets people in #ops read #public, not the other way round).
    shared_rooms: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("shared_rooms")
    @classmethod
    def _room_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for room, others in value.items():
            for name in (room, *others):
                if not name.strip() or name != name.strip() or any(c in name for c in "*?["):
                    raise ValueError(f"'{name}' is not a room id; name rooms exactly, like '#ops' or "
                                     "'!abc:example.org' (no patterns)")
        return value
