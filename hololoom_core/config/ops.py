"""Operations config sections: code review, workflows, incidents, the answer cache and command plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from hololoom_core.config.base import StrictModel, directory_or_missing
from hololoom_core.text.durations import parse_duration


class ReviewConfig(StrictModel):
    """Code review (`!review`, `hololoom review`): which analysers run and how findings are filtered."""

    bandit: bool = True
    ruff: bool = True
    detect_secrets: bool = True
    ruff_select: list[str] = Field(default_factory=lambda: ["E4", "E7", "E9", "F", "B", "W", "UP", "SIM", "C4"])
    ruff_target_version: str = "py311"
    bandit_skip: list[str] = Field(default_factory=lambda: ["B101", "B404", "B603"])
    bandit_min_severity: Literal["low", "medium", "high"] = "low"
    max_bytes: int = Field(default=500_000, ge=1_000, le=20_000_000)
    max_findings: int = Field(default=40, ge=1, le=1000)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    llm_summary: bool = True
    summary_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    summary_code_chars: int = Field(default=6000, ge=0, le=200_000)

    @field_validator("ruff_select")
    @classmethod
    def _rule_selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            if not selector.isalnum() or not selector[:1].isalpha() or selector.upper() != selector:
                raise ValueError(f"'{selector}' is not a ruff rule selector; use codes like F, E9, B006 or ALL")
        if not value:
            raise ValueError("must name at least one ruff rule selector, for example [F, E9]")
        return value

    @field_validator("bandit_skip")
    @classmethod
    def _bandit_ids(cls, value: list[str]) -> list[str]:
        for test_id in value:
            if not (len(test_id) == 4 and test_id[0] == "B" and test_id[1:].isdigit()):
                raise ValueError(f"'{test_id}' is not a bandit test id; use ids like B101")
        return value

    @field_validator("ruff_target_version")
    @classmethod
    def _target_version(cls, value: str) -> str:
        if not (value.startswith("py3") and value[3:].isdigit()):
            raise ValueError("must look like py311")
        return value


class WorkflowsConfig(StrictModel):
    """Workflow automation: where user workflows live, what steps may reach, and the scheduler."""

    enabled: bool = True
    directory: Path | None = None
    load_shipped: bool = True
    default_room: str = "#ops"
    timezone: str = "UTC"
    tick_seconds: float = Field(default=5.0, gt=0, le=3600)
    default_approval_timeout: str = "1h"
    trigger_cooldown: str = "5m"
    http_allow_hosts: list[str] = Field(default_factory=list)
    http_timeout_s: float = Field(default=15.0, gt=0, le=600)
    shell_allow: list[str] = Field(default_factory=list)
    shell_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_steps_per_run: int = Field(default=500, ge=1, le=100_000)
    max_call_depth: int = Field(default=5, ge=1, le=20)
    lease_seconds: float = Field(default=300.0, ge=10, le=86_400)

    _directory_is_directory = field_validator("directory")(directory_or_missing)

    @field_validator("default_approval_timeout", "trigger_cooldown")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a known time zone; use a name like UTC or Europe/Berlin")
        return value

    @field_validator("http_allow_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not host or "/" in host or " " in host:
                raise ValueError(f"'{host}' is not a host name; list hosts like hooks.example.org or *.internal")
        return [host.lower() for host in value]


SEVERITIES = ("sev1", "sev2", "sev3", "sev4")

DEFAULT_ROLE_INSTRUCTIONS: dict[str, str] = {
    "commander": "You lead the response: set priorities, hand out work, decide on mitigations and escalation. "
    "Post a status update (`!incident status conditions: ... actions: ... needs: ...`) at least every "
    "30 minutes and keep everyone focused on restoring service.",
    "scribe": "You keep the record: tag findings and decisions into the timeline (`!incident note ...`), "
    "capture action items with owners (`!incident action @owner ...`) and note when key changes happen.",
    "comms": "You own communication outside the response: update stakeholders and the status page on a steady "
    "cadence, keep questions away from responders, and announce the resolution.",
}


class IncidentTarget(StrictModel):
    """How fast an incident of one severity should be acknowledged and resolved (minutes)."""

    acknowledge_minutes: float = Field(gt=0, le=100_000)
    resolve_minutes: float = Field(gt=0, le=1_000_000)


def default_incident_targets() -> dict[str, IncidentTarget]:
    return {
        "sev1": IncidentTarget(acknowledge_minutes=5, resolve_minutes=60),
        "sev2": IncidentTarget(acknowledge_minutes=15, resolve_minutes=240),
        "sev3": IncidentTarget(acknowledge_minutes=60, resolve_minutes=1440),
        "sev4": IncidentTarget(acknowledge_minutes=240, resolve_minutes=4320),
    }


class IncidentsConfig(StrictModel):
    """Incident management: where an incident talks, its roles, severity targets, what joins the timeline."""

    channel: Literal["thread", "room"] = "thread"
    default_severity: Literal["sev1", "sev2", "sev3", "sev4"] = "sev3"
    role_instructions: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROLE_INSTRUCTIONS))
    targets: dict[str, IncidentTarget] = Field(default_factory=default_incident_targets)
    related_limit: int = Field(default=3, ge=0, le=20)
    adopt_external_ids: bool = True
    backfill_minutes: float = Field(default=60, ge=0, le=10_080)

    @field_validator("role_instructions")
    @classmethod
    def _roles_are_words(cls, value: dict[str, str]) -> dict[str, str]:
        for role, text in value.items():
            if not role.isidentifier() or role != role.lower():
                raise ValueError(f"role '{role}' must be one lower-case word, for example commander")
            if not str(text).strip():
                raise ValueError(f"role '{role}' needs instructions text")
        if "commander" not in value:
            raise ValueError("must include the 'commander' role")
        return value

    @field_validator("targets")
    @classmethod
    def _targets_known_severities(cls, value: dict[str, IncidentTarget]) -> dict[str, IncidentTarget]:
        unknown = [key for key in value if key not in SEVERITIES]
        if unknown:
            raise ValueError(f"unknown severity '{unknown[0]}' (use sev1, sev2, sev3, sev4)")
        return value


class AnswerCacheConfig(StrictModel):
    """The answer cache: reuse an answer while the question and its retrieved context are unchanged."""

    enabled: bool = True
    ttl_s: float = Field(default=3600.0, gt=0, le=30 * 86400)
    max_entries: int = Field(default=2000, ge=1, le=1_000_000)
    min_quality: float = Field(default=0.0, ge=0, le=1)


class OpsConfig(StrictModel):
    """Operations: command plugins and YAML aliases, incidents, the answer cache."""

    plugins_dir: Path | None = None
    aliases_dir: Path | None = None
    entry_point_plugins: bool = True
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    answer_cache: AnswerCacheConfig = Field(default_factory=AnswerCacheConfig)

    _directories = field_validator("plugins_dir", "aliases_dir")(directory_or_missing)
