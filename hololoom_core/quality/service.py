"""The quality service: predicts before each answer, records the prediction, labels outcomes, learns, reports.

Outcomes are joined to predictions by interaction id. The judged quality is learned as soon as the
answer is recorded; the bad-outcome label is set when the judged quality is under the threshold, when
a 👎 or a re-ask arrives within the window, or, when nothing bad happened, once the window closes.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hololoom_core.answers.types import AnswerContext, QualityForecast, RoutingDecision
from hololoom_core.models import Answer
from hololoom_core.quality.features import FeatureExtractor
from hololoom_core.quality.metrics import Figures, compute_figures
from hololoom_core.quality.model import Prediction, QualityModel
from hololoom_core.quality.recommend import ConfigurationAdvisor

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

PENDING_LIMIT = 256
FIGURES_EVERY = 25
RECENT_POINTS = 60


@dataclass(slots=True)
class PendingForecast:
    """A forecast made for a question whose answer has not been recorded yet."""

    context: AnswerContext
    features: dict[str, float]
    prediction: Prediction
    tier: str
    recommended: dict[str, Any]
    applied: bool
    latency_ms: float
    model_outcomes: int


class QualityService:
    """The installed quality predictor (`engine.capability(QualityService)`): the answer path's `quality_predictor`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        settings = engine.config.quality
        self.settings = settings
        self.window_s = settings.reask_window_minutes * 60.0
        self.apply = engine.config.features.predictive_quality
        self.features = FeatureExtractor(engine, self.window_s, settings.reask_similarity)
        self.advisor = ConfigurationAdvisor(engine, settings.expensive_share)
        self.model_path = Path(settings.model_file).expanduser() if settings.model_file else (
            engine.config.data_dir / "quality-model.pkl"
        )
        self.model = QualityModel(settings.bad_quality_below)
        self.pending: OrderedDict[int, PendingForecast] = OrderedDict()
        self.unsaved = 0
        self._figures_cache: tuple[int, Figures] | None = None

    # -- start-up --------------------------------------------------------------------------------

    def load(self) -> str:
        """Restore the model (the saved state, else a replay of the stored outcomes) and the running state."""
        restored = QualityModel.load(self.model_path, self.settings.bad_quality_below)
        how = "restored from " + self.model_path.name
        if restored is None:
            how = self.replay()
        else:
            self.model = restored
        for row in self.engine.store.query(
            "SELECT agent, judged_quality FROM quality_predictions WHERE judged_quality IS NOT NULL"
        ):
            self.features.learn_agent_quality(row[0], float(row[1]))
        for row in self.engine.store.query(
            "SELECT difficulty FROM (SELECT interaction_id, difficulty FROM quality_predictions "
            "ORDER BY interaction_id DESC LIMIT 500) ORDER BY interaction_id"
        ):
            self.advisor.remember(float(row[0]))
        self.features.seed_recent()
        return how

    def replay(self) -> str:
        """Rebuild the model from the stored outcomes, in the order they were labelled (no saved state)."""
        rows = self.engine.store.query(
            "SELECT features, judged_quality, bad, raw_score FROM quality_predictions "
            "WHERE bad IS NOT NULL ORDER BY labelled_ts, interaction_id"
        )
        for row in rows:
            features = json.loads(row[0])
            if row[1] is not None:
                self.model.learn_quality(features, float(row[1]))
            self.model.learn_outcome(features, bool(row[2]), float(row[3]))
        return f"rebuilt from {len(rows)} stored outcome(s)" if rows else "prior only (no outcomes yet)"

    # -- predicting ------------------------------------------------------------------------------

    def forecast(self, context: AnswerContext, decision: RoutingDecision) -> tuple[QualityForecast, PendingForecast]:
        """The forecast for a question, and what must be remembered to learn from its outcome."""
        started, started_cpu = time.perf_counter(), time.thread_time()
        features = self.features.compute(context, decision)
        prediction = self.model.predict(features)
        tier = self.advisor.tier(prediction.difficulty)
        apply = self.apply and self.model.bad_outcomes >= self.settings.apply_after_outcomes
        recommended = self.advisor.params(tier)
        latency_ms = (time.perf_counter() - started) * 1000.0
        cpu_ms = (time.thread_time() - started_cpu) * 1000.0
        model = {**self.model.describe(), "predict_ms": round(latency_ms, 4), "predict_cpu_ms": round(cpu_ms, 4)}
        if not self.apply:
            why = "; not applied: features.predictive_quality is false"
        elif not apply:
            why = (f"; not applied until the model has learned from {self.settings.apply_after_outcomes} outcomes "
                   f"({self.model.bad_outcomes} so far)")
        else:
            why = ""
        forecast = QualityForecast(
            quality=prediction.quality,
            reason=f"{tier}: predicted quality {prediction.quality:.2f}, bad-outcome risk "
                   f"{prediction.retry_probability:.2f}{why}",
            retry_probability=prediction.retry_probability,
            difficulty=prediction.difficulty,
            recommended={**recommended},
            apply=apply,
            features=features,
            model={**model, "tier": tier},
        )
        pending = PendingForecast(context, features, prediction, tier, recommended, apply, latency_ms,
                                  self.model.bad_outcomes)
        return forecast, pending

    def predict(self, context: AnswerContext, decision: RoutingDecision) -> QualityForecast:
        """The answer path's slot: forecast, and remember it until the answer is recorded."""
        forecast, pending = self.forecast(context, decision)
        self.advisor.remember(pending.prediction.difficulty)
        self.pending[id(context)] = pending
        while len(self.pending) > PENDING_LIMIT:
            self.pending.popitem(last=False)
        return forecast

    # -- outcomes --------------------------------------------------------------------------------

    def observe_answer(self, answer: Answer, context: AnswerContext) -> None:
        """An answer observer: store the prediction with the judged quality, learn it, close expired windows."""
        pending = self.pending.pop(id(context), None)
        self.features.learn_question(context.asker, self.engine.clock.now(), context.question)
        if pending is None or pending.context is not context or answer.interaction_id is None:
            self.label_expired()
            return
        now = self.engine.clock.now()
        judged = float(answer.quality)
        bad_now = judged < self.settings.bad_quality_below
        ran = {
            "configuration": answer.configuration,
            "agent": answer.agent,
            "steps": [step.get("step") for step in answer.loop_steps],
            "collaborated": "contributions" in answer.details,
            "grounded": answer.grounded,
        }
        prediction = pending.prediction
        with self.engine.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO quality_predictions(interaction_id, ts, asker, agent, features, "
                "predicted_quality, retry_probability, difficulty, raw_score, tier, recommended, applied, ran, "
                "latency_ms, judged_quality, bad, labelled_ts, model_outcomes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    answer.interaction_id, now, context.asker, answer.agent, json.dumps(pending.features),
                    prediction.quality, prediction.retry_probability, prediction.difficulty, prediction.raw_score,
                    pending.tier, json.dumps(pending.recommended), int(pending.applied), json.dumps(ran),
                    answer.latency_ms, judged, 1 if bad_now else None, now if bad_now else None,
                    pending.model_outcomes,
                ),
            )
        self.model.learn_quality(pending.features, judged)
        self.features.learn_agent_quality(answer.agent, judged)
        if bad_now:
            self.model.learn_outcome(pending.features, True, prediction.raw_score)
            self.after_outcomes(1)
        self.label_expired()

    def observe_feedback(self, interaction_id: int, value: int, source: str) -> None:
        """A feedback observer: a 👎 or a re-ask within the window makes the outcome bad (learned at once)."""
        if value >= 0:
            return
        row = self.engine.store.query_one(
            "SELECT ts, features, bad, raw_score FROM quality_predictions WHERE interaction_id = ?",
            (interaction_id,),
        )
        if row is None:
            return
        column = "reasked" if source == "reask" else "thumbs_down"
        now = self.engine.clock.now()
        in_window = now - float(row["ts"]) <= self.window_s
        learn = row["bad"] is None and in_window
        with self.engine.store.transaction() as conn:
            conn.execute(f"UPDATE quality_predictions SET {column} = 1 WHERE interaction_id = ?", (interaction_id,))
            if learn:
                conn.execute(
                    "UPDATE quality_predictions SET bad = 1, labelled_ts = ? WHERE interaction_id = ?",
                    (now, interaction_id),
                )
        if learn:
            self.model.learn_outcome(json.loads(row["features"]), True, float(row["raw_score"]))
            self.after_outcomes(1)

    def label_expired(self) -> int:
        """Label good every open prediction whose window closed without a bad outcome; returns how many."""
        now = self.engine.clock.now()
        rows = self.engine.store.query(
            "SELECT interaction_id, ts, features, raw_score FROM quality_predictions "
            "WHERE bad IS NULL AND ts < ? ORDER BY ts",
            (now - self.window_s,),
        )
        if not rows:
            return 0
        with self.engine.store.transaction() as conn:
            conn.executemany(
                "UPDATE quality_predictions SET bad = 0, labelled_ts = ? WHERE interaction_id = ?",
                [(float(row["ts"]) + self.window_s, row["interaction_id"]) for row in rows],
            )
        for row in rows:
            self.model.learn_outcome(json.loads(row["features"]), False, float(row["raw_score"]))
        self.after_outcomes(len(rows))
        return len(rows)

    def after_outcomes(self, count: int) -> None:
        """Save the model and append the running figures every so many outcomes."""
        before = self.model.bad_outcomes - count
        self.unsaved += count
        if self.unsaved >= self.settings.save_every:
            self.save()
        if before // FIGURES_EVERY != self.model.bad_outcomes // FIGURES_EVERY:
            figures = self.figures()
            with self.engine.store.transaction() as conn:
                conn.execute(
                    "INSERT INTO quality_figures(ts, outcomes, figures) VALUES (?, ?, ?)",
                    (self.engine.clock.now(), figures.outcomes,
                     json.dumps({k: v for k, v in figures.as_dict().items() if k != "calibration"})),
                )

    def save(self) -> None:
        """Write the model state now (errors are reported, never raised)."""
        try:
            self.model.save(self.model_path)
            self.unsaved = 0
        except OSError as exc:
            self.engine.report_error("quality model", f"cannot save {self.model_path}: {exc}")

    async def close(self) -> None:
        """Save the model on shutdown."""
        if self.unsaved:
            self.save()

    # -- figures ---------------------------------------------------------------------------------

    def figures(self) -> Figures:
        """Progressive-validation figures over every labelled outcome (cached until a new one arrives)."""
        count = int(self.engine.store.scalar("SELECT count(*) FROM quality_predictions WHERE bad IS NOT NULL") or 0)
        if self._figures_cache is not None and self._figures_cache[0] == count:
            return self._figures_cache[1]
        rows = self.engine.store.query(
            "SELECT retry_probability, bad, predicted_quality, judged_quality FROM quality_predictions "
            "WHERE bad IS NOT NULL ORDER BY labelled_ts, interaction_id"
        )
        judged_rows = [row for row in rows if row[3] is not None]
        figures = compute_figures(
            [float(row[0]) for row in rows],
            [int(row[1]) for row in rows],
            [float(row[2]) for row in judged_rows],
            [float(row[3]) for row in judged_rows],
        )
        self._figures_cache = (count, figures)
        return figures

    def tiers(self) -> list[dict[str, Any]]:
        """Per tier: answers, how many applied the recommendation, mean judged quality, bad rate, mean latency."""
        rows = self.engine.store.query(
            "SELECT tier, count(*) AS answers, sum(applied) AS applied, avg(judged_quality) AS quality, "
            "avg(bad) AS bad_rate, avg(latency_ms) AS latency_ms FROM quality_predictions GROUP BY tier"
        )
        by_tier = {row["tier"]: dict(row) for row in rows}
        total = sum(int(row["answers"]) for row in rows) or 1
        result = []
        for tier in ("cheap", "standard", "expensive"):
            row = by_tier.get(tier, {"answers": 0, "applied": 0, "quality": None, "bad_rate": None,
                                     "latency_ms": None})
            result.append({"tier": tier, "answers": int(row["answers"]), "share": int(row["answers"]) / total,
                           "applied": int(row["applied"] or 0), "mean_quality": row["quality"],
                           "bad_rate": row["bad_rate"], "mean_latency_ms": row["latency_ms"],
                           "params": self.advisor.params(tier)})
        return result

    def history(self, limit: int = 40) -> list[dict[str, Any]]:
        """The stored running figures, oldest first (the retry rate and accuracy over time)."""
        rows = self.engine.store.query(
            "SELECT ts, outcomes, figures FROM (SELECT * FROM quality_figures ORDER BY id DESC LIMIT ?) ORDER BY id",
            (limit,),
        )
        return [{"ts": row[0], "outcomes": row[1], **json.loads(row[2])} for row in rows]

    def retry_rate(self, bucket: int = 25, buckets: int = 40) -> list[dict[str, Any]]:
        """The bad-outcome rate of each run of `bucket` consecutive outcomes (oldest first), the newest `buckets`."""
        labels = [int(row[0]) for row in self.engine.store.query(
            "SELECT bad FROM quality_predictions WHERE bad IS NOT NULL ORDER BY labelled_ts, interaction_id"
        )]
        rates = [
            {"outcomes": min(start + bucket, len(labels)), "rate": sum(labels[start:start + bucket]) /
             len(labels[start:start + bucket])}
            for start in range(0, len(labels), bucket)
        ]
        return rates[-buckets:]

    def recent(self, limit: int = RECENT_POINTS) -> list[dict[str, Any]]:
        """The newest predictions with their outcomes, oldest first."""
        rows = self.engine.store.query(
            "SELECT interaction_id, ts, predicted_quality, judged_quality, retry_probability, bad, tier, applied "
            "FROM (SELECT * FROM quality_predictions ORDER BY interaction_id DESC LIMIT ?) ORDER BY interaction_id",
            (limit,),
        )
        return [dict(row) for row in rows]

    def report(self, *, label: bool = True) -> dict[str, Any]:
        """Everything `hololoom quality report` and the tab show, measured from the stored outcomes.

        `label` first closes the windows that have expired (the tab's overview passes False: reading only).
        """
        if label:
            self.label_expired()
        open_count = int(self.engine.store.scalar("SELECT count(*) FROM quality_predictions WHERE bad IS NULL") or 0)
        return {
            "figures": self.figures().as_dict(),
            "waiting": open_count,
            "window_minutes": self.settings.reask_window_minutes,
            "bad_quality_below": self.settings.bad_quality_below,
            "applying": self.apply,
            "apply_after_outcomes": self.settings.apply_after_outcomes,
            "model": self.model.describe(),
            "tiers": self.tiers(),
            "history": self.history(),
            "retry_rate": self.retry_rate(),
            "recent": self.recent(),
        }
