"""A read-only summary of engine state for dashboards and the app's tabs (all figures measured)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

def overview_extras(engine: Engine) -> dict[str, Any]:
    """Every overview panel a capability registered (`engine.overview_panels`), computed now.

    A failing panel is reported and left out.
    """
    extra: dict[str, Any] = {}
    for name, provider in engine.overview_panels.items():
        try:
            extra[name] = provider(engine)
        except Exception as exc:  # a broken figure must not break the app's tabs
            engine.report_error("overview", f"{name}: {exc}")
    return extra


@dataclass(slots=True)
class RecentAnswer:
    """One recent interaction as shown in tables."""

    id: int
    ts: float
    question: str
    agent: str
    provider: str
    quality: float
    latency_ms: float
    feedback: int
    grounded: bool


@dataclass(slots=True)
class EngineOverview:
    """Counters, per-agent figures, judge criteria and recent answers."""

    stats: dict[str, Any]
    agents: list[dict[str, Any]]
    criteria_means: dict[str, float]
    recent: list[RecentAnswer]
    feedback_up: int
    feedback_down: int
    high_quality_answers: int
    runbooks: int
    extra: dict[str, Any] = field(default_factory=dict)
    workflows: int = 0  # workflow definitions installed (shipped and the user's), 0 when workflows are off
    runbooks_from_packages: int = 0  # of `runbooks`, those installed by marketplace packages


def build_overview(engine: Engine, recent: int = 30, high_quality: float = 0.8) -> EngineOverview:
    """Read the current figures from the store and the live counters."""
    store = engine.store
    per_agent = {row["agent"]: row for row in engine.interactions.per_agent()}
    agents = []
    for name, agent in engine.answer_path.agents.items():
        row = per_agent.get(name, {})
        agents.append(
            {
                "name": name,
                "brief": agent.brief,
                "answers": int(row.get("answers") or 0),
                "mean_quality": row.get("mean_quality"),
                "mean_latency_ms": row.get("mean_latency_ms"),
                "feedback": int(row.get("feedback") or 0),
            }
        )
    rows = store.query(
        "SELECT id, created_ts, query, agent, provider, quality, latency_ms, feedback, grounded "
        "FROM interactions ORDER BY id DESC LIMIT ?",
        (recent,),
    )
    recent_answers = [
        RecentAnswer(r["id"], r["created_ts"], r["query"], r["agent"], r["provider"], r["quality"],
                     r["latency_ms"], r["feedback"], bool(r["grounded"]))
        for r in rows
    ]
    up = int(store.scalar("SELECT count(*) FROM feedback WHERE value > 0") or 0)
    down = int(store.scalar("SELECT count(*) FROM feedback WHERE value < 0") or 0)
    good = int(store.scalar("SELECT count(*) FROM interactions WHERE quality >= ?", (high_quality,)) or 0)
    extra = overview_extras(engine)
    return EngineOverview(
        stats=engine.stats.as_dict(),
        agents=agents,
        criteria_means=engine.interactions.criteria_means(),
        recent=recent_answers,
        feedback_up=up,
        feedback_down=down,
        high_quality_answers=good,
        runbooks=len(engine.runbooks),
        runbooks_from_packages=sum(1 for runbook in engine.runbooks.runbooks.values() if runbook.origin),
        extra=extra,
        workflows=installed_workflows(extra),
    )


def installed_workflows(extra: dict[str, Any]) -> int:
    """How many workflow definitions are installed, from the workflows panel (0 when workflows are off)."""
    panel = extra.get("workflows")
    return int(panel.get("installed", 0)) if isinstance(panel, dict) else 0
