"""Promptly config sections: the answer loop, ultraprompt spec, judge and A/B experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from hololoom_core.answers.loop_dsl import LoopSyntaxError, parse_loop
from hololoom_core.answers.spec import SpecError, load_spec
from hololoom_core.config.base import StrictModel


def _check_loop(value: str | None) -> str | None:
    """Parse a loop DSL string so a typo fails at config load, with its column."""
    if value is None:
        return value
    try:
        parse_loop(value)
    except LoopSyntaxError as exc:
        raise ValueError(exc.detail)
    return value


class VariantConfig(StrictModel):
    """One experiment variant: what it changes (loop, spec, instructions, retrieval, temperature, threshold)."""

    description: str = ""
    loop: str | None = None
    spec: dict[str, Any] = Field(default_factory=dict)
    instructions: str | None = None
    judge_threshold: float | None = Field(default=None, ge=0, le=1)
    retrieval_mode: Literal["bare", "fast", "fused"] | None = None
    max_sources: int | None = Field(default=None, ge=0, le=50)
    max_runbooks: int | None = Field(default=None, ge=0, le=10)
    min_overlap: float | None = Field(default=None, ge=0, le=1)
    min_similarity: float | None = Field(default=None, ge=0, le=1)
    temperature: float | None = Field(default=None, ge=0, le=2)

    @field_validator("loop")
    @classmethod
    def _loop_parses(cls, value: str | None) -> str | None:
        return _check_loop(value)


class ExperimentConfig(StrictModel):
    """An A/B(/n) experiment: two or more named variants."""

    description: str = ""
    variants: dict[str, VariantConfig]

    @field_validator("variants")
    @classmethod
    def _two_or_more(cls, value: dict[str, VariantConfig]) -> dict[str, VariantConfig]:
        if len(value) < 2:
            raise ValueError("an experiment needs at least two variants")
        for name in value:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"variant name '{name}' must be one word of letters, digits, '-' or '_'")
        return value


class ExperimentsConfig(StrictModel):
    """How experiments assign, reward and promote variants."""

    judge_weight: float = Field(default=0.6, ge=0)
    reaction_weight: float = Field(default=0.3, ge=0)
    reask_weight: float = Field(default=0.1, ge=0)
    reask_window_minutes: float = Field(default=10.0, ge=0, le=1440)
    reask_similarity: float = Field(default=0.6, gt=0, le=1)
    promote_probability: float = Field(default=0.95, gt=0.5, lt=1)
    min_samples: int = Field(default=20, ge=1, le=100_000)
    min_samples_each: int = Field(default=5, ge=1, le=100_000)
    monte_carlo_draws: int = Field(default=4000, ge=100, le=1_000_000)
    prior_alpha: float = Field(default=1.0, gt=0)
    prior_beta: float = Field(default=1.0, gt=0)
    seed: int | None = None
    definitions: dict[str, ExperimentConfig] = Field(default_factory=dict)

    @field_validator("reask_weight")
    @classmethod
    def _some_weight(cls, value: float, info: Any) -> float:
        if value + info.data.get("judge_weight", 0.0) + info.data.get("reaction_weight", 0.0) <= 0:
            raise ValueError("judge_weight, reaction_weight and reask_weight cannot all be 0")
        return value


class PromptlyConfig(StrictModel):
    """The answer-quality machinery: ultraprompt spec override, loops, judge and experiments."""

    spec: Path | None = None
    loop: str = "generate -> judge -> refine until quality >= 0.8 max 2 -> verify"
    agent_loops: dict[str, str] = Field(default_factory=dict)
    judge: Literal["auto", "heuristic", "llm"] = "auto"
    experiments: ExperimentsConfig = Field(default_factory=ExperimentsConfig)

    @field_validator("loop")
    @classmethod
    def _loop_parses(cls, value: str) -> str:
        return _check_loop(value) or value

    @field_validator("spec")
    @classmethod
    def _spec_loads(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        try:
            load_spec(value)
        except SpecError as exc:
            raise ValueError(f"ultraprompt spec problem: {exc}")
        return value

    @field_validator("agent_loops")
    @classmethod
    def _agent_loops(cls, value: dict[str, str]) -> dict[str, str]:
        for agent, loop in value.items():
            try:
                _check_loop(loop)
            except ValueError as exc:
                raise ValueError(f"loop of agent '{agent}': {exc}")
        return value
