"""The self-improving loop: watch judged quality and feedback per question type, find a significant weakness,
launch an experiment of real variants, adopt the winner at P(best), roll it back if quality drops, and
remember what was learned.

It drives Promptly's `ExperimentService` (Thompson sampling, the promotion rule) and fills the answer
path's `choose_configuration` slot: a question of the type under experiment gets the experiment's
variant, a question of a type with an adopted pattern gets that pattern's parameters, any other the
default configuration.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hololoom_core.answers.types import AnswerContext, Configuration
from hololoom_core.config import ExperimentConfig, VariantConfig
from hololoom_core.improving.classify import question_type
from hololoom_core.improving.events import ImprovementStep
from hololoom_core.improving.store import ImprovementStore, LearnedPattern
from hololoom_core.improving.variants import proposals
from hololoom_core.models import Answer
from hololoom_core.promptly.experiments import ExperimentError, ExperimentService, variant_params

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

LOOP_USER = "self-improving loop"
CONTROL = "control"
ALL_TYPES = "all"  # a weakness of every question: an experiment on it takes every question


@dataclass(slots=True)
class LoopSettings:
    """The loop's guard rails and thresholds."""

    window: int = 150  # recent answers the weakness check looks at
    min_samples: int = 15  # answers of a type before its weakness can count
    criterion_target: float = 0.75  # a rubric criterion whose mean is below this is a weakness
    type_gap: float = 0.03  # a type this much worse than the rest (and significant, |t| >= 2) is a weakness
    negative_rate: float = 0.15  # share of 👎 / re-asks above which a type (or every question) is a weakness
    check_every: int = 10  # answers between checks
    cooldown: int = 40  # answers after an experiment ends before the next launch
    max_running: int = 1  # experiments the loop keeps running at once (the service runs one at a time)
    exploration_cap: float = 0.5  # at most this share of an experiment's answers go to challengers
    max_experiment_answers: int = 200  # an experiment without a winner by then is stopped as inconclusive
    rollback_window: int = 20  # answers under an adopted pattern before the rollback check
    rollback_margin: float = 0.05  # roll back when their mean judge score is this far below the baseline's
    screen_questions: int = 40  # recent distinct questions of the type each proposed variant is replayed on first
    adopt_on_replay_t: float = 2.5  # a replayed variant this significantly better (paired t) is adopted on probation
    adopt_on_replay_questions: int = 20  # ... when the replay rests on at least this many questions
    adopt_on_replay_gain: float = 0.005  # ... and raises the mean judge score by at least this much
    challengers: int = 1  # variants tried against the control per experiment (fewer arms decide sooner)
    min_answers_each: int = 30  # answers every variant of the loop's experiments gets before a promotion


@dataclass(slots=True)
class Weakness:
    """A significant weakness: which question type, what is weak, and the figures it rests on."""

    question_type: str
    kind: str  # a rubric criterion, 'quality' (worse than the other types) or 'feedback'
    value: float
    reference: float
    answers: int

    def sentence(self) -> str:
        """One line for the timeline."""
        if self.kind == "feedback" and self.question_type == ALL_TYPES:
            return (f"{self.value:.0%} of all recent answers got a 👎 or a re-ask (limit {self.reference:.0%}, "
                    f"{self.answers} answers)")
        if self.kind == "quality":
            return (f"{self.question_type} answers score {self.value:.3f} vs {self.reference:.3f} for the other types "
                    f"({self.answers} answers)")
        if self.kind == "feedback":
            return (f"{self.value:.0%} of {self.question_type} answers got a 👎 or a re-ask (limit "
                    f"{self.reference:.0%}, {self.answers} answers)")
        return (f"{self.question_type} answers score {self.value:.3f} on {self.kind} (target {self.reference:.2f}, "
                f"{self.answers} answers)")


def run_without_waiting(coroutine: Any) -> Any:
    """The result of a coroutine that never has to wait (the offline engine's loop); None if it would wait."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    return None


@dataclass(frozen=True, slots=True)
class ReplayEvidence:
    """A challenger against the control on the same stored questions, answered again in the shadow (paired)."""

    questions: int
    control_mean: float
    mean: float
    changed: int  # questions whose answer differs at all
    t: float  # paired t statistic of the judge-score differences (inf when every difference is the same, > 0)

    @property
    def difference(self) -> float:
        """Mean judge score of the challenger minus the control's, on the same questions."""
        return self.mean - self.control_mean

    def sentence(self, kind: str) -> str:
        """What the replay showed, for the timeline."""
        return (f"judge {self.mean:.3f} vs {self.control_mean:.3f} on the last {self.questions} {kind} questions "
                f"replayed ({self.changed} answers changed, paired t {self.t:.2f})")


def paired_t(differences: list[float]) -> float:
    """The paired t statistic of some differences (±inf when they are all equal and non-zero, 0 when all zero)."""
    if len(differences) < 2:
        return 0.0
    mean = statistics.fmean(differences)
    spread = statistics.stdev(differences)
    if spread == 0:
        return 0.0 if mean == 0 else math.copysign(math.inf, mean)
    return mean / (spread / math.sqrt(len(differences)))


def stored_questions(loop: ImprovementLoop, kind: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The type's most recent distinct stored questions, each with the agent that answered it and the quality
    predictor's recommendation that was applied to it (so a replay runs them as they were run)."""
    rows = loop.engine.store.query(
        "SELECT i.query, i.details FROM improvement_answers a JOIN interactions i ON i.id = a.interaction_id "
        "WHERE a.question_type = ? OR ? = 'all' ORDER BY a.interaction_id DESC LIMIT ?",
        (kind, kind, loop.settings.screen_questions * 2))
    seen: set[str] = set()
    questions: list[tuple[str, str | None, dict[str, Any]]] = []
    for row in rows:
        question = row["query"]
        if not question or question in seen:
            continue
        seen.add(question)
        details = json.loads(row["details"] or "{}")
        prediction = details.get("prediction") or {}
        applied = dict(prediction.get("recommended_config") or {}) if prediction.get("applied") else {}
        applied.pop("collaborate", None)  # the replay runs one agent's loop
        questions.append((question, (details.get("routing") or {}).get("agent"), applied))
        if len(questions) >= loop.settings.screen_questions:
            break
    return questions


def replay_variants(loop: ImprovementLoop, kind: str, baseline: dict[str, Any],
                    challengers: dict[str, dict[str, Any]]) -> dict[str, ReplayEvidence]:
    """Off-policy evidence: the type's recent stored questions answered again with the control and each challenger.

    Every question runs through the retriever chain and the loop runner as it ran live (the same agent,
    the same applied recommendation, the control's or the challenger's parameters on top; no room, since
    the room's recent messages then are not its messages now), recording nothing, so each challenger is compared with the control question by question. Replays that would
    wait on a language model are not done: a challenger absent from the result has no replay evidence.
    """
    from hololoom_core.llm.base import AnswerRequest

    path = loop.engine.answer_path
    questions = stored_questions(loop, kind)
    fallback = next(iter(path.agents.values()))

    def replay(params: dict[str, Any]) -> list[tuple[str, float]] | None:
        answers = []
        for question, agent_name, applied in questions:
            agent = path.agents.get(agent_name or "", fallback)
            context = AnswerContext(question=question)
            configuration = Configuration("replay", {**applied, **params})
            sources = path.retrievers.retrieve(context, configuration)
            request = AnswerRequest(question=question, sources=sources, agent=agent.name, agent_brief=agent.brief,
                                    configuration="replay", instructions=agent.instructions)
            result = run_without_waiting(path.loop_runner(path, request, context, configuration, lambda _text: None))
            if result is None:
                return None
            answers.append((result.text, round(result.verdict.score, 4)))
        return answers

    control = replay(baseline) if len(questions) >= 2 else None
    if control is None:
        return {}
    control_mean = statistics.fmean(score for _text, score in control)
    evidence: dict[str, ReplayEvidence] = {}
    for name, params in challengers.items():
        answers = replay({**baseline, **params})
        if answers is None:
            continue
        differences = [mine[1] - theirs[1] for mine, theirs in zip(answers, control, strict=True)]
        evidence[name] = ReplayEvidence(len(questions), round(control_mean, 4),
                                        round(statistics.fmean(score for _text, score in answers), 4),
                                        sum(1 for mine, theirs in zip(answers, control, strict=True) if mine != theirs),
                                        round(paired_t(differences), 3))
    return evidence


def criterion_scores(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """The judge's score per rubric criterion over some recorded answers."""
    scores: dict[str, list[float]] = {}
    for row in rows:
        for name, value in json.loads(row["criteria"]).items():
            scores.setdefault(name, []).append(value)
    return scores


def welch_t(first: list[float], second: list[float]) -> float:
    """Welch's t statistic of mean(first) - mean(second) (0 when either side is too small or has no spread)."""
    if len(first) < 2 or len(second) < 2:
        return 0.0
    variance = statistics.variance(first) / len(first) + statistics.variance(second) / len(second)
    if variance <= 0:
        return 0.0
    return (statistics.fmean(first) - statistics.fmean(second)) / math.sqrt(variance)


class ImprovementLoop:
    """Detects weaknesses, launches and judges experiments, adopts or rolls back, records patterns."""

    def __init__(self, engine: Engine, experiments: ExperimentService, settings: LoopSettings | None = None) -> None:
        self.engine = engine
        self.experiments = experiments
        self.settings = settings or LoopSettings()
        self.records = ImprovementStore(engine.store)
        self.enabled = engine.config.features.self_improving
        self.answers_seen = 0
        self.last_finished_at = -10**9
        self._patterns: dict[str, LearnedPattern] | None = None
        self._targets: dict[int, str | None] = {}
        self.tuned: list[dict[str, Any]] = []  # the last tune's best configurations, candidates for the loop
        self.tried_out: set[tuple[str, str]] = set()  # (type, weakness) with no variant that changes anything
        self.tried: dict[tuple[str, str], list[dict[str, Any]]] = {}  # variants already tried per (type, weakness)
        self.launched_with: dict[int, tuple[tuple[str, str], list[dict[str, Any]]]] = {}  # experiment -> proposals
        self.inconclusive: dict[tuple[str, str], list[dict[str, Any]]] = {}  # tried live without a verdict

    # -- the answer path slot ------------------------------------------------------------------

    def patterns(self) -> dict[str, LearnedPattern]:
        """The active pattern of each question type (cached until one changes)."""
        if self._patterns is None:
            self._patterns = {}
            for pattern in self.records.patterns(active_only=True):
                self._patterns.setdefault(pattern.question_type, pattern)
        return self._patterns

    def target(self) -> tuple[int, str, str] | None:
        """(experiment id, name, question type) of the loop's experiment while it runs, else None."""
        active = self.experiments.active()
        if active is None:
            return None
        row = self.engine.store.query_one("SELECT question_type FROM improvement_experiments WHERE experiment_id = ?",
                                          (active["id"],))
        return (active["id"], active["name"], row["question_type"]) if row else None

    def choose(self, context: AnswerContext) -> Configuration:
        """The configuration for one question: the experiment's variant, an adopted pattern, or the default."""
        kind = question_type(context.question)
        state = self.experiments.active_state()  # cached: no query per answer
        if state is not None:
            experiment_id, name, status, definition, _winner = state
            target = self.target_type(experiment_id)
            if target is None or target in (kind, ALL_TYPES):  # an operator's experiment applies to every question
                if target is not None and status == "running" and self.over_exploration_cap(experiment_id):
                    return Configuration(f"{name}/{CONTROL}", variant_params(name, CONTROL, definition[CONTROL]))
                return self.experiments.choose(context)
        pattern = self.patterns().get(kind) or self.patterns().get(ALL_TYPES)
        if pattern is not None and pattern.params:
            return Configuration(f"learned/{pattern.question_type}", dict(pattern.params))
        return Configuration()

    def target_type(self, experiment_id: int) -> str | None:
        """The question type an experiment of the loop targets (None for an operator's experiment), cached."""
        if experiment_id not in self._targets:
            row = self.engine.store.query_one(
                "SELECT question_type FROM improvement_experiments WHERE experiment_id = ?", (experiment_id,))
            self._targets[experiment_id] = row["question_type"] if row else None
        return self._targets[experiment_id]

    def over_exploration_cap(self, experiment_id: int) -> bool:
        """Whether challengers already hold the capped share of the experiment's answers (past the warm-up)."""
        row = self.engine.store.query_one(
            "SELECT count(*) AS n, sum(variant != ?) AS challengers FROM experiment_assignments WHERE experiment_id = ?",
            (CONTROL, experiment_id))
        total = int(row["n"]) if row is not None else 0
        active = self.experiments.active()
        variants = len(json.loads(active["definition"])) if active is not None else 1
        if row is None or active is None or total < self.experiments.min_each(active["name"]) * variants:
            return False
        return int(row["challengers"] or 0) / total >= self.settings.exploration_cap

    # -- observing -----------------------------------------------------------------------------

    def observe_answer(self, answer: Answer, context: AnswerContext) -> None:
        """Record the answer's type, configuration and judged criteria; every few answers, run a check."""
        if answer.interaction_id is None:
            return
        criteria = {c.name: round(c.score, 4) for c in answer.verdict.criteria}
        with self.engine.store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO improvement_answers(interaction_id, question_type, configuration, "
                         "quality, criteria, negative, ts) VALUES (?, ?, ?, ?, ?, 0, ?)",
                         (answer.interaction_id, question_type(context.question), answer.configuration,
                          answer.quality, json.dumps(criteria), self.engine.clock.now()))
        self.answers_seen += 1
        if self.enabled and self.answers_seen % self.settings.check_every == 0:
            self.check()

    def observe_feedback(self, interaction_id: int, value: int, source: str) -> None:
        """Mark an answer that got a 👎 or a re-ask."""
        if value < 0:
            with self.engine.store.transaction() as conn:
                conn.execute("UPDATE improvement_answers SET negative = 1 WHERE interaction_id = ?", (interaction_id,))

    # -- the loop ------------------------------------------------------------------------------

    def step(self, kind: str, summary: str, **detail: Any) -> None:
        """Record one step on the timeline and publish it."""
        self.records.add_event(kind, summary, detail, self.engine.clock.now())
        self.engine.bus.publish(ImprovementStep(kind, summary, detail))

    def check(self) -> None:
        """One pass of the loop: settle the running experiment, watch adopted patterns, launch on a weakness."""
        if not self.enabled:
            return
        target = self.target()
        if target is not None:
            self.settle(*target)
        self.watch_adopted()
        if self.experiments.active() is None and self.answers_seen - self.last_finished_at >= self.settings.cooldown:
            weakness = self.detect()
            if weakness is not None:
                self.launch(weakness)

    def recent(self) -> list[dict[str, Any]]:
        """The last `window` answers the loop recorded."""
        rows = self.engine.store.query(
            "SELECT question_type, configuration, quality, criteria, negative FROM improvement_answers "
            "ORDER BY interaction_id DESC LIMIT ?", (self.settings.window,))
        return [dict(row) for row in rows]

    def detect(self) -> Weakness | None:
        """The most severe significant weakness in the recent answers, or None."""
        rows = self.recent()
        s = self.settings
        found: list[tuple[float, Weakness]] = []
        if len(rows) >= s.min_samples * 2:
            negative = sum(r["negative"] for r in rows) / len(rows)
            if negative > s.negative_rate:  # people are unhappy across the board: one experiment on everything
                found.append((negative - s.negative_rate + 1.0, Weakness(ALL_TYPES, "feedback", negative,
                                                                         s.negative_rate, len(rows))))
        types = sorted({r["question_type"] for r in rows})
        for kind in types:
            mine = [r for r in rows if r["question_type"] == kind]
            if len(mine) < s.min_samples:
                continue
            rest = [r["quality"] for r in rows if r["question_type"] != kind]
            scores = [r["quality"] for r in mine]
            negative = sum(r["negative"] for r in mine) / len(mine)
            if negative > s.negative_rate:
                found.append((negative - s.negative_rate + 0.5, Weakness(kind, "feedback", negative, s.negative_rate,
                                                                           len(mine))))
            if rest and statistics.fmean(scores) < statistics.fmean(rest) - s.type_gap and welch_t(scores, rest) <= -2:
                gap = statistics.fmean(rest) - statistics.fmean(scores)
                found.append((gap, Weakness(kind, "quality", statistics.fmean(scores), statistics.fmean(rest),
                                            len(mine))))
            criteria = criterion_scores(mine)
            others = criterion_scores([r for r in rows if r["question_type"] != kind])
            for name, values in criteria.items():
                mean = statistics.fmean(values)
                elsewhere = others.get(name, [])
                # below target, and significantly below the same criterion on the other types
                if mean < s.criterion_target and len(elsewhere) >= s.min_samples and welch_t(values, elsewhere) <= -2:
                    found.append((s.criterion_target - mean, Weakness(kind, name, mean, s.criterion_target,
                                                                      len(values))))
        recently_tried = {r["question_type"] for r in self.engine.store.query(
            "SELECT question_type FROM improvement_experiments ORDER BY ts DESC, experiment_id DESC LIMIT 2")}
        found = [item for item in found if (item[1].question_type, item[1].kind) not in self.tried_out]
        fresh = [item for item in found if item[1].question_type not in recently_tried] or found
        if not fresh:
            return None
        return max(fresh, key=lambda item: item[0])[1]

    def launch(self, weakness: Weakness) -> None:
        """Act on a weakness: replay proposed variants on the type's stored questions, adopt one that is clearly
        better there (on probation), try a promising one live against the control, screen out the rest."""
        self.step("detected", weakness.sentence(), question_type=weakness.question_type, weakness=weakness.kind,
                  value=round(weakness.value, 4), reference=round(weakness.reference, 4), answers=weakness.answers)
        current = self.patterns().get(weakness.question_type) or self.patterns().get(ALL_TYPES)
        baseline = dict(current.params) if current else {}
        tuned = self.tuned or list((self.records.result("tune") or {}).get("candidates", []))
        key = (weakness.question_type, weakness.kind)
        s = self.settings
        challengers: dict[str, dict[str, Any]] = {}
        while len(challengers) < s.challengers:
            tried = self.tried.setdefault(key, [])
            offered = proposals(weakness.kind, tuned, limit=1, exclude=[baseline, *tried, *challengers.values()])
            if not offered:
                break
            name, params = next(iter(offered.items()))
            tried.append(dict(params))
            evidence = replay_variants(self, weakness.question_type, baseline, {name: params}).get(name)
            if evidence is None:  # no replay possible (a language model would be waited on): try it live
                challengers[name] = {**baseline, **params}
                continue
            if evidence.changed == 0:
                self.step("screened", f"{name} would not change any of the last {evidence.questions} "
                          f"{weakness.question_type} answers; not worth an experiment",
                          question_type=weakness.question_type, variant=name)
                continue
            if evidence.difference <= 0:
                self.step("screened", f"{name} would not raise the judge score: {evidence.sentence(weakness.question_type)}"
                          "; not worth an experiment", question_type=weakness.question_type, variant=name,
                          difference=round(evidence.difference, 4), t=evidence.t)
                continue
            if (evidence.t >= s.adopt_on_replay_t and evidence.questions >= s.adopt_on_replay_questions
                    and evidence.difference >= s.adopt_on_replay_gain):
                self.adopt_on_replay(weakness, name, {**baseline, **params}, evidence)
                return
            if params in self.inconclusive.get(key, []):  # a second live experiment would not decide either
                self.step("screened", f"{name} ended inconclusive live and is not significantly better on replay: "
                          f"{evidence.sentence(weakness.question_type)}", question_type=weakness.question_type,
                          variant=name, difference=round(evidence.difference, 4), t=evidence.t)
                continue
            challengers[name] = {**baseline, **params}
        if not challengers:
            self.step("skipped", f"no variant left to try for {weakness.question_type} ({weakness.kind})")
            self.tried_out.add((weakness.question_type, weakness.kind))
            self.last_finished_at = self.answers_seen
            return
        number = int(self.engine.store.scalar("SELECT count(*) FROM improvement_experiments") or 0) + 1
        name = f"auto-{weakness.question_type}-{number}"
        variants = {CONTROL: VariantConfig(description="the configuration in use", **baseline)}
        for variant, params in challengers.items():
            variants[variant] = VariantConfig(description=", ".join(f"{k}={v}" for k, v in params.items()), **params)
        definition = ExperimentConfig(description=f"self-improving: {weakness.sentence()}", variants=variants)
        self.experiments.define(name, definition, min_samples_each=s.min_answers_each)
        try:
            report = self.experiments.start(name, by=LOOP_USER)
        except ExperimentError as exc:
            self.step("skipped", f"could not launch {name}: {exc}")
            return
        with self.engine.store.transaction() as conn:
            conn.execute("INSERT INTO improvement_experiments(experiment_id, name, question_type, weakness, baseline, "
                         "status, ts) VALUES (?, ?, ?, ?, ?, 'running', ?)",
                         (report.id, name, weakness.question_type, weakness.kind, json.dumps(baseline),
                          self.engine.clock.now()))
        self._targets.pop(report.id, None)
        self.launched_with[report.id] = (key, [p for p in self.tried.get(key, [])
                                               if {**baseline, **p} in challengers.values()])
        self.step("launched", f"{name}: {CONTROL} vs {', '.join(challengers)} for {weakness.question_type} questions",
                  experiment=name, question_type=weakness.question_type, variants=sorted(variants))

    def adopt_on_replay(self, weakness: Weakness, winner: str, params: dict[str, Any],
                        evidence: ReplayEvidence) -> None:
        """Adopt a variant the replay shows clearly better, without a live experiment; the rollback watch then
        compares its live answers with the type's live answers before it (the probation)."""
        kind = weakness.question_type
        live = [r["quality"] for r in self.engine.store.query(
            "SELECT quality FROM improvement_answers WHERE question_type = ? OR ? = 'all' "
            "ORDER BY interaction_id DESC LIMIT ?", (kind, kind, self.settings.window))]
        baseline_judge = statistics.fmean(live) if live else None
        number = int(self.engine.store.scalar("SELECT count(*) FROM improvement_experiments") or 0) + 1
        name = f"replay-{kind}-{number}"
        now = self.engine.clock.now()
        # a negative id: the row is the loop's own (no Promptly experiment behind it); it carries the probation baseline
        experiment_id = -number
        with self.engine.store.transaction() as conn:
            conn.execute("INSERT INTO improvement_experiments(experiment_id, name, question_type, weakness, baseline, "
                         "status, ts) VALUES (?, ?, ?, ?, ?, 'adopted', ?)",
                         (experiment_id, name, kind, weakness.kind,
                          json.dumps({"judge": baseline_judge, "params": params, "replay": {
                              "questions": evidence.questions, "control": evidence.control_mean,
                              "challenger": evidence.mean, "t": evidence.t}}), now))
        pattern = LearnedPattern(kind, winner, f"{CONTROL} (judge on replayed questions)", round(evidence.difference, 4),
                                 evidence.questions, params, True,
                                 now)
        self.records.add_pattern(pattern)
        self._patterns = None
        self.last_finished_at = self.answers_seen
        self.step("promoted", f"{name}: {winner} adopted for {kind} questions on replay ({evidence.sentence(kind)}); "
                  f"on probation: rolled back if its live answers score clearly lower", experiment=name,
                  winner=winner, params=params, replay_questions=evidence.questions,
                  difference=round(evidence.difference, 4), t=evidence.t)
        self.step("learned", pattern.sentence(), question_type=kind, winner=winner, loser=CONTROL,
                  difference=pattern.difference, answers=evidence.questions, evidence="replay")

    def settle(self, experiment_id: int, name: str, kind: str) -> None:
        """Adopt a promoted winner, or stop an experiment that ran too long without one."""
        active = self.experiments.active()
        if active is None or active["id"] != experiment_id:
            return
        if active["status"] == "promoted":
            self.adopt(experiment_id, name, kind, active["winner"], json.loads(active["definition"]))
            return
        pulls = int(self.engine.store.scalar("SELECT count(*) FROM experiment_assignments WHERE experiment_id = ?",
                                             (experiment_id,)) or 0)
        if pulls >= self.settings.max_experiment_answers:
            self.experiments.stop(name, by=LOOP_USER)
            self._finish(experiment_id, "inconclusive")
            # its challengers may be replayed again later, on more stored questions (adopted only if significant)
            key, proposed = self.launched_with.pop(experiment_id, (None, []))
            if key is not None:
                for params in proposed:
                    if params in self.tried.get(key, []):
                        self.tried[key].remove(params)
                    self.inconclusive.setdefault(key, []).append(params)
            self.step("inconclusive", f"{name}: no variant reached P(best) ≥ "
                      f"{self.experiments.settings.promote_probability:.0%} in {pulls} answers; stopped",
                      experiment=name, answers=pulls)

    def _finish(self, experiment_id: int, status: str) -> None:
        with self.engine.store.transaction() as conn:
            conn.execute("UPDATE improvement_experiments SET status = ? WHERE experiment_id = ?", (status, experiment_id))
        self.last_finished_at = self.answers_seen

    def adopt(self, experiment_id: int, name: str, kind: str, winner: str, definition: dict[str, Any]) -> None:
        """Record the promoted winner as the type's pattern (its parameters now apply), then end the experiment."""
        rows = self.engine.store.query(
            "SELECT variant, count(*) AS n, avg(reward) AS reward, avg(judge_score) AS judge "
            "FROM experiment_assignments WHERE experiment_id = ? GROUP BY variant", (experiment_id,))
        stats = {r["variant"]: r for r in rows}
        others = [v for v in stats if v != winner]
        loser = CONTROL if winner != CONTROL and CONTROL in stats else (max(others, key=lambda v: stats[v]["reward"])
                                                                         if others else CONTROL)
        difference = (float(stats[winner]["reward"] - stats[loser]["reward"])
                      if loser in stats and winner in stats else 0.0)
        answers = int(sum(int(r["n"]) for r in rows))
        params = {k: v for k, v in definition[winner].items() if k != "description"}
        reference = stats.get(CONTROL) or stats.get(winner)
        baseline_judge = float(reference["judge"]) if reference is not None else None
        pattern = LearnedPattern(kind, winner, loser, round(difference, 4), answers, params, True,
                                 self.engine.clock.now())
        self.records.add_pattern(pattern)
        with self.engine.store.transaction() as conn:
            conn.execute("UPDATE improvement_experiments SET baseline = ? WHERE experiment_id = ?",
                         (json.dumps({"judge": baseline_judge, "params": params}), experiment_id))
        self._patterns = None
        self.experiments.stop(name, by=LOOP_USER)
        self._finish(experiment_id, "adopted")
        self.step("promoted", f"{name}: {winner} promoted for {kind} questions", experiment=name, winner=winner,
                  params=params)
        self.step("learned", pattern.sentence(), question_type=kind, winner=winner, loser=loser,
                  difference=pattern.difference, answers=answers)

    def watch_adopted(self) -> None:
        """Roll back an adopted pattern whose answers score clearly below the baseline it beat."""
        s = self.settings
        for kind, pattern in list(self.patterns().items()):
            row = self.engine.store.query_one(
                "SELECT experiment_id, name, baseline FROM improvement_experiments WHERE question_type = ? AND "
                "status = 'adopted' ORDER BY ts DESC, experiment_id DESC LIMIT 1", (kind,))
            if row is None:
                continue
            baseline = json.loads(row["baseline"]).get("judge")
            scores = [r["quality"] for r in self.engine.store.query(
                "SELECT quality FROM improvement_answers WHERE question_type = ? AND configuration = ? AND ts >= ? "
                "ORDER BY interaction_id DESC LIMIT ?", (kind, f"learned/{kind}", pattern.ts, s.rollback_window))]
            if baseline is None or len(scores) < s.rollback_window:
                continue
            mean = statistics.fmean(scores)
            if mean < float(baseline) - s.rollback_margin:
                self.records.deactivate_patterns(kind)
                self._patterns = None
                self._finish(int(row["experiment_id"]), "rolled_back")
                self.step("rolled_back", f"{row['name']}: {pattern.winner} rolled back for {kind} questions "
                          f"(judge {mean:.3f} over {len(scores)} answers vs baseline {float(baseline):.3f})",
                          experiment=row["name"], mean=round(mean, 4), baseline=baseline, answers=len(scores))

    # -- reports -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What `!improve status` and the app show: switch, running experiment, timeline, patterns, results."""
        target = self.target()
        return {
            "enabled": self.enabled,
            "experiment": None if target is None else {"name": target[1], "question_type": target[2]},
            "timeline": self.records.events(limit=30),
            "patterns": [p.sentence() for p in self.records.patterns()[:10]],
            "simulation": self.records.result("simulation"),
            "tune": self.records.result("tune"),
        }
