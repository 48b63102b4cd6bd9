"""The simulation harness: a seeded team asks the question bank through the real pipeline and reacts.

Every question goes through `Engine.handle` in a local room (real store, judge, loop runner, offline
engine, the self-improving loop when on). A simulated user is satisfied when the answer contains
what they needed (the bank's runbook among the sources, or one of its phrases in the answer or a
cited source), with seeded noise; otherwise they re-ask with the paraphrase (recorded as a re-ask)
or give up with a 👎. Time is simulated minutes on the engine's clock. The report compares the
first window of questions with the last: judge quality, retry rate, resolution minutes and
satisfaction (1-5), each with a bootstrap 95% interval.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hololoom_core.clock import Clock
from hololoom_core.improving.bank import BankQuestion, QuestionBank, load_bank
from hololoom_core.models import Answer, ChatMessage

if TYPE_CHECKING:
    import numpy as np

    from hololoom_core.config import Config
    from hololoom_core.engine.pipeline import Engine

ROOM = "!ops:simulation"
METRICS = ("quality", "retry_rate", "resolution_minutes", "satisfaction")
START_TS = 1_767_225_600.0  # 2026-01-01 00:00 UTC: simulated time starts here, so runs repeat exactly


class SimulatedClock(Clock):
    """Simulated wall time that moves only when the simulation advances it; durations stay real."""

    def __init__(self, start: float = START_TS) -> None:
        self._now = start

    def now(self) -> float:
        """The simulated time."""
        return self._now

    def advance(self, minutes: float) -> None:
        """Move simulated time forward."""
        self._now += minutes * 60.0


@dataclass(slots=True)
class UserModel:
    """How simulated people react (probabilities and minutes), all drawn from the run's seeded generator."""

    satisfied_when_contained: float = 0.92  # the answer had what they needed
    satisfied_when_missing: float = 0.08  # it did not, but they worked it out anyway
    reask_probability: float = 0.75  # unsatisfied: re-ask with a paraphrase (else 👎 and give up)
    thumbs_up_probability: float = 0.35  # satisfied: react 👍
    manual_minutes: float = 25.0  # giving up: resolving it without the bot takes this plus an exponential
    manual_spread: float = 15.0
    read_minutes: float = 1.0
    apply_minutes: float = 5.0


@dataclass(slots=True)
class Episode:
    """One need of one simulated user, from the first ask until satisfied or given up."""

    question_id: str
    question_type: str
    quality: float
    retried: bool
    resolution_minutes: float
    satisfaction: float
    satisfied: bool
    configuration: str


@dataclass(slots=True)
class SimulationOptions:
    """What to simulate."""

    seed: int = 7
    questions: int = 300
    users: int = 8
    improve: bool = True
    window: int | None = None  # questions per before/after window (default: a quarter of the run)
    data_dir: Path | None = None  # where the simulation's store lives (default: a temporary directory)
    bank: QuestionBank | None = None
    fixed_params: dict[str, Any] | None = None  # answer every question with these params (loop off): what a variant does


@dataclass(slots=True)
class SimulationResult:
    """The before/after table with intervals, the episodes and what the loop did."""

    options: SimulationOptions
    before: dict[str, dict[str, float]]
    after: dict[str, dict[str, float]]
    episodes: list[Episode]
    loop_events: list[dict[str, Any]] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `hololoom simulate --json`."""
        o = self.options
        return {
            "before": self.before,
            "after": self.after,
            "seed": o.seed, "questions": o.questions, "users": o.users, "improve": o.improve,
            "window": window_size(o),
            "by_type_after": by_type(self.episodes[-window_size(o):]),
            "loop": {"events": self.loop_events, "patterns": self.patterns},
            "seconds": round(self.seconds, 2),
        }


def window_size(options: SimulationOptions) -> int:
    """Questions in each of the before and after windows."""
    return options.window or max(10, options.questions // 4)


def satisfies(question: BankQuestion, answer: Answer) -> bool:
    """Whether an answer contains what the asker needed: the runbook among its sources, or a needed phrase."""
    if question.runbook is not None:
        return any(source.kind == "runbook" and source.ref == question.runbook for source in answer.sources)
    haystack = "\n".join([answer.markdown, *(source.excerpt for source in answer.sources)]).lower()
    return any(phrase.lower() in haystack for phrase in question.needs)


def interval(values: list[float], rng: np.random.Generator, resamples: int = 2000) -> dict[str, float]:
    """Mean and percentile-bootstrap 95% interval of the mean."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    return {"mean": round(float(data.mean()), 4), "low": round(float(np.quantile(means, 0.025)), 4),
            "high": round(float(np.quantile(means, 0.975)), 4), "n": int(data.size)}


def summarise_window(episodes: list[Episode], rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """The four metrics of a window, each with its interval."""
    return {
        "quality": interval([e.quality for e in episodes], rng),
        "retry_rate": interval([1.0 if e.retried else 0.0 for e in episodes], rng),
        "resolution_minutes": interval([e.resolution_minutes for e in episodes], rng),
        "satisfaction": interval([e.satisfaction for e in episodes], rng),
    }


def by_type(episodes: list[Episode]) -> dict[str, dict[str, float]]:
    """Mean quality and satisfied share per question type (for the report's detail)."""
    groups: dict[str, list[Episode]] = {}
    for episode in episodes:
        groups.setdefault(episode.question_type, []).append(episode)
    return {kind: {"n": len(items), "quality": round(sum(e.quality for e in items) / len(items), 4),
                   "satisfied": round(sum(e.satisfied for e in items) / len(items), 4)}
            for kind, items in sorted(groups.items())}


def simulation_config(options: SimulationOptions, data_dir: Path, base: Config | None = None) -> Config:
    """The engine config of a run: offline, the chosen data dir, the loop on or off, seeded experiments."""
    from hololoom_core.config import load_config

    config = base.model_copy(deep=True) if base is not None else load_config(None, data_dir=str(data_dir))
    config.hololoom.data_dir = data_dir
    config.llm.provider = "offline"
    config.features.self_improving = options.improve
    config.promptly.experiments.seed = options.seed
    # every earlier message is embedded before the next question (see `Simulation.ask`): no batching delay
    config.memory.embed_delay_s = 0.0
    return config


class Simulation:
    """One seeded run of the simulated team against a real engine."""

    def __init__(self, options: SimulationOptions, user_model: UserModel | None = None) -> None:
        import numpy as np

        self.options = options
        self.users = user_model or UserModel()
        self.bank = options.bank or load_bank()
        self.rng = np.random.default_rng(options.seed)
        self.clock = SimulatedClock()

    def order(self) -> list[BankQuestion]:
        """The questions in asking order: seeded permutations of the bank, as many as asked for."""
        picked: list[BankQuestion] = []
        while len(picked) < self.options.questions:
            picked.extend(self.bank.questions[i] for i in self.rng.permutation(len(self.bank.questions)))
        return picked[: self.options.questions]

    async def run(self, progress: Callable[[int, int], None] | None = None) -> SimulationResult:
        """Run the whole simulation in a fresh store and return the report."""
        started = time.perf_counter()
        if self.options.data_dir is not None:
            self.options.data_dir.mkdir(parents=True, exist_ok=True)
            return await self._run(self.options.data_dir, progress, started)
        with tempfile.TemporaryDirectory(prefix="hololoom-sim-") as directory:
            return await self._run(Path(directory), progress, started)

    async def _run(self, data_dir: Path, progress: Callable[[int, int], None] | None,
                   started: float) -> SimulationResult:
        import numpy as np

        from hololoom_core.engine import Engine
        from hololoom_core.improving.loop import ImprovementLoop
        from hololoom_core.memory.service import MemoryService

        engine = Engine(simulation_config(self.options, data_dir), clock=self.clock)
        await engine.start()
        if self.options.fixed_params is not None:
            from hololoom_core.answers.types import Configuration

            fixed = dict(self.options.fixed_params)
            engine.answer_path.choose_configuration = lambda context: Configuration("fixed", dict(fixed))
        try:
            memory = engine.find_capability(MemoryService)
            engine.keep_batch([
                ChatMessage(room_id=ROOM, sender=f"@teammate{index % 5}:simulation", body=message.body,
                            ts=self.clock.now() - 86_400 + index, actionable=False)
                for index, message in enumerate(self.bank.history)
            ])
            if memory is not None:  # embed the team history, as a long-running engine would in the background
                await memory.prepare()
                await memory.embed_backlog()
            episodes: list[Episode] = []
            questions = self.order()
            for number, question in enumerate(questions, start=1):
                user = f"@user{int(self.rng.integers(self.options.users))}:simulation"
                # common random numbers: each need's reactions come from its own generator (seed, number), so two
                # runs of the same seed (loop on and off) draw the same reactions for the same answers
                episodes.append(await self.episode(engine, question, user,
                                                   np.random.default_rng([self.options.seed, number])))
                self.clock.advance(2.0 + float(self.rng.exponential(3.0)))
                if progress is not None:
                    progress(number, len(questions))
            loop = engine.find_capability(ImprovementLoop)
            events = loop.records.events(limit=200) if loop is not None else []
            patterns = [p.sentence() for p in loop.records.patterns()] if loop is not None else []
        finally:
            await engine.close()
        size = window_size(self.options)
        stats_rng = np.random.default_rng(self.options.seed + 1)
        return SimulationResult(self.options, summarise_window(episodes[:size], stats_rng),
                                summarise_window(episodes[-size:], stats_rng), episodes, events, patterns,
                                time.perf_counter() - started)

    async def ask(self, engine: Engine, user: str, text: str) -> Answer | None:
        """Ask the bot in the room, as a person would; the answer it replied with.

        Memory embeds messages in the background; waiting for it first makes what the answer can cite
        depend on the conversation only, not on thread timing, so the same seed gives the same numbers.
        """
        from hololoom_core.memory.service import MemoryService

        memory = engine.find_capability(MemoryService)
        if memory is not None:
            await memory.idle()
        result = await engine.handle(ChatMessage(room_id=ROOM, sender=user, body=text, ts=self.clock.now(),
                                                 mentions_bot=True))
        return next((reply.answer for reply in result.replies if reply.answer is not None), None)

    async def episode(self, engine: Engine, question: BankQuestion, user: str,
                      rng: np.random.Generator | None = None) -> Episode:
        """One user's need: ask, read, maybe re-ask with the paraphrase, until satisfied or given up (reactions
        drawn from `rng`, the run's generator when none is given)."""
        model = self.users
        rng = rng if rng is not None else self.rng
        minutes = 0.0
        first_quality: float | None = None
        configuration = ""
        retried = False
        previous: int | None = None
        for attempt, text in enumerate((question.text, question.paraphrase)):
            answer = await self.ask(engine, user, text)
            if answer is None:
                break
            if previous is not None and answer.interaction_id is not None:
                engine.record_feedback(previous, user, -1, "reask", ref=str(answer.interaction_id))
            if first_quality is None:
                first_quality, configuration = answer.quality, answer.configuration
            read = model.read_minutes + float(rng.exponential(1.5))
            minutes += read
            self.clock.advance(read)
            contained = satisfies(question, answer)
            chance = model.satisfied_when_contained if contained else model.satisfied_when_missing
            if rng.random() < chance:
                if answer.interaction_id is not None and rng.random() < model.thumbs_up_probability:
                    engine.record_feedback(answer.interaction_id, user, 1, "reaction")
                minutes += model.apply_minutes + float(rng.exponential(4.0))
                base = 5.0 if attempt == 0 else 3.5
                return self._episode(question, first_quality, retried, minutes, base, True, configuration, rng)
            if attempt == 0 and rng.random() < model.reask_probability and answer.interaction_id is not None:
                retried = True
                previous = answer.interaction_id
                pause = 1.0 + float(rng.exponential(1.0))
                minutes += pause
                self.clock.advance(pause)
                continue
            if answer.interaction_id is not None:
                engine.record_feedback(answer.interaction_id, user, -1, "reaction")
            break
        minutes += model.manual_minutes + float(rng.exponential(model.manual_spread))
        return self._episode(question, first_quality or 0.0, retried, minutes, 1.5, False, configuration, rng)

    def _episode(self, question: BankQuestion, quality: float, retried: bool, minutes: float, base: float,
                 satisfied: bool, configuration: str, rng: np.random.Generator) -> Episode:
        score = base + (quality - 0.8) * 2.0 + float(rng.normal(0.0, 0.4))
        return Episode(question.id, question.type, round(quality, 4), retried, round(minutes, 2),
                       round(min(5.0, max(1.0, score)), 2), satisfied, configuration)


def table_markdown(data: dict[str, Any]) -> str:
    """The seed-style before/after table, with 95% intervals and what each figure rests on."""
    labels = {"quality": ("Response quality (judge)", "{:.2f}"), "retry_rate": ("Retry rate", "{:.0%}"),
              "resolution_minutes": ("Resolution time (min)", "{:.1f}"), "satisfaction": ("Satisfaction (1-5)",
                                                                                          "{:.2f}")}
    lines = ["| metric | before | after | change |", "|---|---|---|---|"]
    for key, (label, fmt) in labels.items():
        before, after = data["before"][key], data["after"][key]

        def cell(figure: dict[str, float], fmt: str = fmt) -> str:
            return f"{fmt.format(figure['mean'])} [{fmt.format(figure['low'])}–{fmt.format(figure['high'])}]"

        change = after["mean"] - before["mean"]
        shown = f"{change:+.0%}" if key == "retry_rate" else f"{change:+.2f}"
        lines.append(f"| {label} | {cell(before)} | {cell(after)} | {shown} |")
    mode = "loop on" if data.get("improve", True) else "loop off (--no-improve)"
    lines.append(f"\nSeed {data['seed']}, {data['questions']} questions by {data['users']} simulated users, {mode}; "
                 f"before = first {data['window']} questions, after = last {data['window']}; "
                 f"[95% bootstrap interval of the mean].")
    return "\n".join(lines)
