"""Experiments (A/B/n): variants assigned by Thompson sampling, rewarded by judge and people, promoted.

One experiment is active at a time. While it runs, `choose` draws a variant for each answer from
the normal-inverse-gamma posteriors of the rewards; `observe_answer` records the assignment with its judge score; reactions and
re-asks (`observe_feedback`) update that assignment's reward. After every update the
probability-to-be-best is estimated by Monte-Carlo sampling, and a variant that reaches the
configured probability with every variant past the minimum sample size is promoted: from then on
every answer uses it, until the experiment is stopped. Everything lives in SQLite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hololoom_core.answers.types import AnswerContext, Configuration
from hololoom_core.config import ExperimentConfig, ExperimentsConfig, VariantConfig
from hololoom_core.events import ExperimentChanged
from hololoom_core.models import Answer
from hololoom_core.promptly.bandit import (
    Arm,
    ArmSummary,
    choose_variant,
    combine_reward,
    promotion_candidate,
    summarise,
)
from hololoom_core.yamldoc import parse_yaml

if TYPE_CHECKING:
    import numpy as np

    from hololoom_core.engine.pipeline import Engine

PRESETS_PATH = Path(__file__).parent / "specs" / "experiments.yaml"

EXPERIMENTS_V1 = """
CREATE TABLE experiments (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,
    definition   TEXT NOT NULL,
    winner       TEXT,
    started_by   TEXT,
    created_ts   REAL NOT NULL,
    updated_ts   REAL NOT NULL,
    stopped_ts   REAL,
    promoted_ts  REAL
);
CREATE INDEX experiments_name ON experiments(name, id);
CREATE INDEX experiments_status ON experiments(status);
CREATE TABLE experiment_assignments (
    id              INTEGER PRIMARY KEY,
    experiment_id   INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    variant         TEXT NOT NULL,
    interaction_id  INTEGER UNIQUE REFERENCES interactions(id) ON DELETE SET NULL,
    asker           TEXT,
    room_id         TEXT,
    question        TEXT NOT NULL,
    judge_score     REAL NOT NULL,
    reaction        REAL,
    reasked         INTEGER NOT NULL DEFAULT 0,
    reward          REAL NOT NULL,
    ts              REAL NOT NULL
);
CREATE INDEX experiment_assignments_variant ON experiment_assignments(experiment_id, variant);
CREATE TABLE experiment_events (
    id             INTEGER PRIMARY KEY,
    experiment_id  INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    detail         TEXT NOT NULL DEFAULT '{}',
    ts             REAL NOT NULL
);
"""

ACTIVE_STATUSES = ("running", "promoted")
ACTIVE_CACHE_S = 5.0


class ExperimentError(Exception):
    """An experiment request that cannot be done, in one line (unknown name, one already running...)."""


def load_presets(path: Path = PRESETS_PATH) -> dict[str, ExperimentConfig]:
    """The experiments shipped with the package."""
    data = parse_yaml(path.read_text(encoding="utf-8"))[0] or {}
    return {name: ExperimentConfig.model_validate(value) for name, value in data.items()}


def variant_settings(variant: VariantConfig) -> dict[str, Any]:
    """A variant's settings as plain data, without unset or empty fields."""
    return {k: v for k, v in variant.model_dump(exclude_none=True).items() if v not in ({}, "", [])}


def variant_params(experiment: str, variant: str, definition: dict[str, Any]) -> dict[str, Any]:
    """The Configuration params of one variant: its settings plus which experiment and variant it is."""
    settings = {k: v for k, v in definition.items() if k != "description" and v not in (None, {}, "")}
    return {**settings, "experiment": experiment, "variant": variant}


@dataclass(slots=True)
class VariantReport:
    """One variant of an experiment, as reports and the app show it."""

    name: str
    description: str
    pulls: int
    mean_judge: float | None
    mean_reward: float | None
    posterior_mean: float
    low: float
    high: float
    probability_best: float
    reactions: int
    reasks: int

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "name": self.name, "description": self.description, "pulls": self.pulls,
            "mean_judge": _round(self.mean_judge), "mean_reward": _round(self.mean_reward),
            "posterior_mean": round(self.posterior_mean, 4), "credible_interval": [round(self.low, 4),
                                                                                  round(self.high, 4)],
            "probability_best": round(self.probability_best, 4), "reactions": self.reactions, "reasks": self.reasks,
        }


@dataclass(slots=True)
class ExperimentReport:
    """An experiment run with its variants, status, winner and history of events."""

    id: int
    name: str
    description: str
    status: str
    winner: str | None
    created_ts: float
    updated_ts: float
    variants: list[VariantReport]
    events: list[dict[str, Any]] = field(default_factory=list)
    promote_probability: float = 0.95
    min_samples: int = 20
    min_samples_each: int = 5

    @property
    def pulls(self) -> int:
        """Answers assigned so far, over all variants."""
        return sum(v.pulls for v in self.variants)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "id": self.id, "name": self.name, "description": self.description, "status": self.status,
            "winner": self.winner, "pulls": self.pulls, "created_ts": self.created_ts, "updated_ts": self.updated_ts,
            "promote_probability": self.promote_probability, "min_samples": self.min_samples,
            "min_samples_each": self.min_samples_each,
            "variants": [v.as_dict() for v in self.variants], "events": list(self.events),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class ExperimentService:
    """Starts, stops, assigns, rewards and promotes experiments, persisted in the engine's store."""

    def __init__(self, engine: Engine, settings: ExperimentsConfig | None = None) -> None:
        self.engine = engine
        self.store = engine.store
        self.settings = settings or engine.config.promptly.experiments
        self._rng: np.random.Generator | None = None
        self._report_rng: np.random.Generator | None = None
        self._active_cache: tuple[int, str, str, dict[str, Any], str | None] | None = None
        self._active_cache_fresh = False
        self._cached_at = 0.0
        self.generated: dict[str, ExperimentConfig] = {}  # experiments defined at run time (the self-improving loop)
        self.minimum_each: dict[str, int] = {}  # a larger per-variant minimum for some experiments, by name

    @property
    def rng(self) -> np.random.Generator:
        """The generator for assignments (numpy is imported on first use, not at start-up)."""
        if self._rng is None:
            import numpy as np

            self._rng = np.random.default_rng(self.settings.seed)
        return self._rng

    @property
    def report_rng(self) -> np.random.Generator:
        """Reports draw from their own generator, so how often the app refreshes never changes assignments."""
        if self._report_rng is None:
            import numpy as np

            self._report_rng = np.random.default_rng(None if self.settings.seed is None else self.settings.seed + 1)
        return self._report_rng

    # -- definitions -----------------------------------------------------------------------------

    def definitions(self) -> dict[str, ExperimentConfig]:
        """Every experiment that can be started: shipped presets, generated ones, then the config's (which win)."""
        return {**load_presets(), **self.generated, **self.settings.definitions}

    def define(self, name: str, definition: ExperimentConfig, min_samples_each: int | None = None) -> None:
        """Add an experiment defined at run time (the self-improving loop's); start it with `start(name)`.

        `min_samples_each` raises the per-variant minimum (warm-up and promotion) for this experiment only.
        """
        self.generated[name] = definition
        if min_samples_each is not None:
            self.minimum_each[name] = max(min_samples_each, self.settings.min_samples_each)

    def min_each(self, name: str) -> int:
        """The per-variant minimum of an experiment (the configured one unless its definition raised it)."""
        return self.minimum_each.get(name, self.settings.min_samples_each)

    # -- life cycle ------------------------------------------------------------------------------

    def _now(self) -> float:
        return self.engine.clock.now()

    def _event(self, conn: Any, experiment_id: int, kind: str, **detail: Any) -> None:
        conn.execute("INSERT INTO experiment_events(experiment_id, kind, detail, ts) VALUES (?, ?, ?, ?)",
                     (experiment_id, kind, json.dumps(detail), self._now()))

    def _publish(self, name: str, status: str, detail: str = "") -> None:
        self._active_cache_fresh = False
        self.engine.bus.publish(ExperimentChanged(name, status, detail))

    def active(self) -> dict[str, Any] | None:
        """The running or promoted experiment run (a row as a dict), or None."""
        row = self.store.query_one(
            "SELECT * FROM experiments WHERE status IN ('running', 'promoted') ORDER BY id DESC LIMIT 1")
        return dict(row) if row else None

    def latest(self, name: str) -> dict[str, Any] | None:
        """The newest run of the experiment `name`."""
        row = self.store.query_one("SELECT * FROM experiments WHERE name = ? ORDER BY id DESC LIMIT 1", (name,))
        return dict(row) if row else None

    def start(self, name: str, by: str | None = None) -> ExperimentReport:
        """Start (or resume a stopped run of) a defined experiment; only one may be active at a time."""
        definitions = self.definitions()
        if name not in definitions:
            known = ", ".join(sorted(definitions)) or "none"
            raise ExperimentError(f"no experiment named '{name}' (defined: {known})")
        active = self.active()
        if active is not None and active["name"] != name:
            raise ExperimentError(f"experiment '{active['name']}' is {active['status']}; stop it first")
        if active is not None:
            raise ExperimentError(f"experiment '{name}' is already {active['status']}")
        definition = definitions[name]
        data = {variant: variant_settings(settings) for variant, settings in definition.variants.items()}
        latest = self.latest(name)
        now = self._now()
        with self.store.transaction() as conn:
            if latest is not None and latest["status"] == "stopped" and json.loads(latest["definition"]) == data:
                experiment_id = latest["id"]
                conn.execute("UPDATE experiments SET status = 'running', stopped_ts = NULL, updated_ts = ? "
                             "WHERE id = ?", (now, experiment_id))
                self._event(conn, experiment_id, "resumed", by=by)
                verb = "resumed"
            else:
                cursor = conn.execute(
                    "INSERT INTO experiments(name, description, status, definition, started_by, created_ts, "
                    "updated_ts) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                    (name, definition.description, json.dumps(data), by, now, now),
                )
                experiment_id = int(cursor.lastrowid or 0)
                self._event(conn, experiment_id, "started", by=by, variants=sorted(data))
                verb = "started"
        self._publish(name, "running", verb)
        report = self.report(experiment_id)
        assert report is not None
        return report

    def stop(self, name: str | None = None, by: str | None = None) -> ExperimentReport:
        """Stop the active experiment (answers go back to the default configuration); its data is kept."""
        active = self.active()
        if active is None:
            raise ExperimentError("no experiment is running")
        if name is not None and active["name"] != name:
            raise ExperimentError(f"'{name}' is not active; the active experiment is '{active['name']}'")
        now = self._now()
        with self.store.transaction() as conn:
            conn.execute("UPDATE experiments SET status = 'stopped', stopped_ts = ?, updated_ts = ? WHERE id = ?",
                         (now, now, active["id"]))
            self._event(conn, active["id"], "stopped", by=by, was=active["status"], winner=active["winner"])
        self._publish(active["name"], "stopped")
        report = self.report(active["id"])
        assert report is not None
        return report

    # -- assignment ------------------------------------------------------------------------------

    def active_state(self) -> tuple[int, str, str, dict[str, Any], str | None] | None:
        """(id, name, status, definition, winner) of the active run, cached (see `_active_state`)."""
        return self._active_state()

    def _active_state(self) -> tuple[int, str, str, dict[str, Any], str | None] | None:
        """(id, name, status, definition, winner) of the active run, cached until something changes here
        or for a few seconds (another process, such as `hololoom say`, may start or stop one)."""
        now = self.engine.clock.perf()
        if not self._active_cache_fresh or now - self._cached_at > ACTIVE_CACHE_S:
            active = self.active()
            self._active_cache = None if active is None else (
                active["id"], active["name"], active["status"], json.loads(active["definition"]), active["winner"])
            self._active_cache_fresh = True
            self._cached_at = now
        return self._active_cache

    def arms(self, experiment_id: int, definition: dict[str, Any] | None = None) -> list[Arm]:
        """The evidence of every variant of a run, in definition order."""
        if definition is None:
            row = self.store.query_one("SELECT definition FROM experiments WHERE id = ?", (experiment_id,))
            definition = json.loads(row["definition"]) if row else {}
        totals = {
            r["variant"]: (int(r["n"]), float(r["s"] or 0.0), float(r["q"] or 0.0))
            for r in self.store.query(
                "SELECT variant, count(*) AS n, sum(reward) AS s, sum(reward * reward) AS q FROM experiment_assignments "
                "WHERE experiment_id = ? GROUP BY variant", (experiment_id,))
        }
        return [
            Arm(name, *totals.get(name, (0, 0.0, 0.0)))
            for name in definition
        ]

    def choose(self, context: AnswerContext) -> Configuration:
        """The configuration for the next answer: a Thompson draw while running, the winner once promoted."""
        state = self._active_state()
        if state is None:
            return Configuration()
        experiment_id, name, status, definition, winner = state
        if status == "promoted" and winner in definition:
            variant = winner
        else:
            arms = self.arms(experiment_id, definition)
            variant = arms[choose_variant(arms, self.rng, self.min_each(name))].name
        params = variant_params(name, variant, definition[variant])
        if status == "promoted":
            params["promoted"] = True
        return Configuration(name=f"{name}/{variant}", params=params)

    # -- learning --------------------------------------------------------------------------------

    def reward_for(self, judge_score: float, reaction: float | None, reasked: bool) -> float:
        """This installation's reward for the given signals (weights from the config)."""
        s = self.settings
        return combine_reward(judge_score, reaction, reasked, s.judge_weight, s.reaction_weight, s.reask_weight)

    def observe_answer(self, answer: Answer, context: AnswerContext) -> None:
        """Record a running experiment's assignment for this answer and update its posterior."""
        params = answer_params(answer)
        if params is None or answer.interaction_id is None:
            return
        experiment, variant = params
        state = self._active_state()
        if state is None or state[1] != experiment or state[2] != "running" or variant not in state[3]:
            return
        reward = self.reward_for(answer.quality, None, False)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiment_assignments(experiment_id, variant, interaction_id, asker, room_id, "
                "question, judge_score, reaction, reasked, reward, ts) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, ?, ?)",
                (state[0], variant, answer.interaction_id, context.asker, context.room_id, context.question,
                 answer.quality, reward, self._now()),
            )
            conn.execute("UPDATE experiments SET updated_ts = ? WHERE id = ?", (self._now(), state[0]))
        self._after_update(state[0], experiment, f"{variant} answered (reward {reward:.2f})")

    def observe_feedback(self, interaction_id: int, value: int, source: str) -> None:
        """Recompute the reward of the assignment this feedback is about (reactions and re-asks)."""
        row = self.store.query_one(
            "SELECT a.id, a.experiment_id, a.variant, a.judge_score, e.name, e.status FROM experiment_assignments a "
            "JOIN experiments e ON e.id = a.experiment_id WHERE a.interaction_id = ?", (interaction_id,))
        if row is None:
            return
        votes = [int(r["value"]) for r in self.store.query(
            "SELECT value FROM feedback WHERE interaction_id = ? AND source != 'reask'", (interaction_id,))]
        reasked = bool(self.store.scalar(
            "SELECT count(*) FROM feedback WHERE interaction_id = ? AND source = 'reask'", (interaction_id,)))
        reaction = sum((v + 1) / 2 for v in votes) / len(votes) if votes else None
        reward = self.reward_for(row["judge_score"], reaction, reasked)
        with self.store.transaction() as conn:
            conn.execute("UPDATE experiment_assignments SET reaction = ?, reasked = ?, reward = ? WHERE id = ?",
                         (reaction, int(reasked), reward, row["id"]))
        if row["status"] == "running":
            self._after_update(row["experiment_id"], row["name"],
                               f"{row['variant']} {source} feedback (reward {reward:.2f})")
        else:
            self._publish(row["name"], row["status"], f"{row['variant']} {source} feedback")

    def _after_update(self, experiment_id: int, name: str, detail: str) -> None:
        """Check the promotion rule after new evidence, then tell the bus."""
        arms = self.arms(experiment_id)
        summaries = summarise(arms, self.settings.monte_carlo_draws, self.rng)
        probabilities = [s.probability_best for s in summaries]
        best = promotion_candidate(arms, probabilities, self.settings.promote_probability,
                                   max(self.settings.min_samples, self.min_each(name)), self.min_each(name))
        if best is None:
            self._publish(name, "running", detail)
            return
        winner = arms[best].name
        now = self._now()
        with self.store.transaction() as conn:
            conn.execute("UPDATE experiments SET status = 'promoted', winner = ?, promoted_ts = ?, updated_ts = ? "
                         "WHERE id = ? AND status = 'running'", (winner, now, now, experiment_id))
            self._event(conn, experiment_id, "promoted", winner=winner,
                        probability_best=round(probabilities[best], 4), pulls={a.name: a.pulls for a in arms})
        self._publish(name, "promoted", f"{winner} promoted at P(best) {probabilities[best]:.3f}")

    # -- reports ---------------------------------------------------------------------------------

    def report(self, experiment_id: int) -> ExperimentReport | None:
        """The full report of one run: variants with posteriors, intervals and probability-to-be-best."""
        row = self.store.query_one("SELECT * FROM experiments WHERE id = ?", (experiment_id,))
        if row is None:
            return None
        definition = json.loads(row["definition"])
        arms = self.arms(experiment_id, definition)
        summaries: list[ArmSummary] = summarise(arms, self.settings.monte_carlo_draws, self.report_rng)
        details = {
            r["variant"]: r for r in self.store.query(
                "SELECT variant, avg(judge_score) AS judge, count(reaction) AS reactions, sum(reasked) AS reasks "
                "FROM experiment_assignments WHERE experiment_id = ? GROUP BY variant", (experiment_id,))
        }
        variants = []
        for summary in summaries:
            detail = details.get(summary.name)
            variants.append(VariantReport(
                name=summary.name,
                description=str(definition.get(summary.name, {}).get("description", "")),
                pulls=summary.pulls,
                mean_judge=float(detail["judge"]) if detail and detail["judge"] is not None else None,
                mean_reward=summary.mean_reward,
                posterior_mean=summary.posterior_mean,
                low=summary.low,
                high=summary.high,
                probability_best=summary.probability_best,
                reactions=int(detail["reactions"]) if detail else 0,
                reasks=int(detail["reasks"] or 0) if detail else 0,
            ))
        events = [
            {"kind": r["kind"], "ts": r["ts"], **json.loads(r["detail"])}
            for r in self.store.query("SELECT kind, detail, ts FROM experiment_events WHERE experiment_id = ? "
                                      "ORDER BY id", (experiment_id,))
        ]
        return ExperimentReport(
            id=row["id"], name=row["name"], description=row["description"], status=row["status"],
            winner=row["winner"], created_ts=row["created_ts"], updated_ts=row["updated_ts"], variants=variants,
            events=events, promote_probability=self.settings.promote_probability,
            min_samples=self.settings.min_samples, min_samples_each=self.settings.min_samples_each,
        )

    def runs(self, limit: int = 20) -> list[ExperimentReport]:
        """The newest runs, newest first."""
        ids = [r["id"] for r in self.store.query("SELECT id FROM experiments ORDER BY id DESC LIMIT ?", (limit,))]
        return [report for report in (self.report(i) for i in ids) if report is not None]

    def report_by_name(self, name: str) -> ExperimentReport | None:
        """The newest run of `name`, or None."""
        latest = self.latest(name)
        return self.report(latest["id"]) if latest else None

    def dashboard(self) -> dict[str, Any]:
        """What the app's Self-Improving tab shows: the active run first, then recent ones, plus definitions."""
        runs = self.runs(limit=6)
        return {
            "runs": runs,
            "definitions": {name: d.description for name, d in self.definitions().items()},
            "promote_probability": self.settings.promote_probability,
            "min_samples": self.settings.min_samples,
            "min_samples_each": self.settings.min_samples_each,
        }


def answer_params(answer: Answer) -> tuple[str, str] | None:
    """(experiment, variant) for an answer produced under an experiment configuration, else None."""
    name = answer.configuration
    if "/" not in name:
        return None
    experiment, _, variant = name.partition("/")
    return (experiment, variant) if experiment and variant else None
