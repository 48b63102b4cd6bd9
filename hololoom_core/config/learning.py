"""Team learning config: which rooms consent, the quality bar, redaction on the way out, dedup and the card."""

from __future__ import annotations

from pydantic import Field, field_validator

from hololoom_core.config.base import StrictModel


class LearningConfig(StrictModel):
    """Mining good conversations into training data and documentation (`hololoom learn`, `!learning`).

    Consent is per room: simulated rooms and CLI questions (`local_rooms`) are in by default, Matrix rooms
    are out until enabled (`matrix_rooms`, or one room at a time in `rooms`). People opt out with
    `!learning optout`.
    """

    min_quality: float = Field(default=0.7, ge=0, le=1)
    local_rooms: bool = True
    matrix_rooms: bool = False
    rooms: dict[str, bool] = Field(default_factory=dict)
    redact_ips: bool = True
    redact_member_names: bool = True
    dedup_threshold: float = Field(default=0.8, gt=0, le=1)
    lsh_threshold: float = Field(default=0.6, gt=0, le=1)
    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle_size: int = Field(default=5, ge=2, le=12)
    license: str = "other"
    language: str = "en"
    pretty_name: str = "HoloLoom team answers"
    system_prompt: str = ("You are HoloLoom, the team's operations assistant. Answer with PLAN, ANSWER, VERIFY "
                          "and TL;DR sections, grounded in the team's runbooks and history.")
    export_dir: str | None = None
    docs_dir: str | None = None

    @field_validator("lsh_threshold")
    @classmethod
    def _lsh_not_above_dedup(cls, value: float, info: object) -> float:
        data = getattr(info, "data", {})
        dedup = data.get("dedup_threshold", 0.8)
        if value > dedup:
            raise ValueError(f"must not exceed dedup_threshold ({dedup}): LSH only finds candidates")
        return value
