"""`hololoom tune`: UCT search over answer-path configurations, rewarded by the judge on a replay set.

The tree: retrieval (mode and context limits) → agent or collaboration (the agents registered in
`answer_path.agents` at run time) → loop → prompt variant. A leaf's reward is the judge score of
one answer to the next question of the replay set (the question bank, or questions stored in the
engine's interactions). `compare` also scores every leaf on every replay question (the exhaustive
search) and reports how close the search came, for how many evaluations.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hololoom_core.answers.types import AnswerContext, Configuration, RoutingDecision
from hololoom_core.improving.mcts import uct_search
from hololoom_core.improving.simulate import ROOM, SimulatedClock, SimulationOptions, simulation_config
from hololoom_core.improving.variants import REFINE_DEEP, SINGLE_PASS
from hololoom_core.models import ChatMessage

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine
    from hololoom_core.improving.bank import QuestionBank

RETRIEVAL: dict[str, dict[str, Any]] = {
    "fast": {"retrieval_mode": "fast"},
    "bare": {"retrieval_mode": "bare"},
    "fast-wide": {"retrieval_mode": "fast", "max_runbooks": 3, "max_sources": 8, "min_overlap": 0.2},
    "fast-lean": {"retrieval_mode": "fast", "max_runbooks": 1, "max_sources": 2},
    "fast-semantic": {"retrieval_mode": "fast", "min_similarity": 0.3},
}
LOOPS: dict[str, dict[str, Any]] = {"default-loop": {}, "single-pass": {"loop": SINGLE_PASS},
                                    "deep-refine": {"loop": REFINE_DEEP}}
PROMPTS: dict[str, dict[str, Any]] = {"full-spec": {}, "no-verify": {"spec": {"options": {"verification": False}}}}
COLLABORATION = "collaboration"


@dataclass(slots=True)
class TuneOptions:
    """What to search: evaluation budget, replay set size, seed, and whether to run the exhaustive search too."""

    budget: int = 200
    replay: int = 40
    seed: int = 7
    compare: bool = False
    questions: list[str] | None = None  # replay questions (default: a seeded sample of the question bank)
    bank: QuestionBank | None = None


def leaf_params(path: tuple[str, ...]) -> dict[str, Any]:
    """The Configuration params of a leaf (retrieval, agent, loop, prompt)."""
    retrieval, agent, loop, prompt = path
    return {**RETRIEVAL[retrieval], **LOOPS[loop], **PROMPTS[prompt], "agent": agent}


def agent_options(engine: Engine) -> list[str]:
    """The agents to try: every registered one, plus a collaboration when there are several and a collaborator."""
    names = list(engine.answer_path.agents)
    if len(names) > 1 and engine.answer_path.collaborate is not None:
        names.append(COLLABORATION)
    return names


class Tuner:
    """Scores leaves on a real engine (offline provider, seeded team history) and runs the searches."""

    def __init__(self, engine: Engine, questions: list[str]) -> None:
        self.engine = engine
        self.questions = questions
        self.scores: dict[tuple[tuple[str, ...], int], float] = {}
        self.next_question: dict[tuple[str, ...], int] = {}
        self.answered = 0

    async def score(self, path: tuple[str, ...], index: int) -> float:
        """The judge score of the leaf's answer to replay question `index` (memoised)."""
        key = (path, index)
        if key not in self.scores:
            answer_path = self.engine.answer_path
            params = leaf_params(path)
            agent = params.pop("agent")
            agents = tuple(answer_path.agents)
            decision = (RoutingDecision(agents[0], reason="tune: collaboration", agents=agents, decided_by="tune")
                        if agent == COLLABORATION else RoutingDecision(agent, reason="tune", decided_by="tune"))
            answer_path.route = lambda context, registered: decision
            answer_path.choose_configuration = lambda context: Configuration("tune/" + "/".join(path), dict(params))
            answer = await answer_path.answer(AnswerContext(question=self.questions[index], room_id=ROOM,
                                                            asker="@tuner:simulation"))
            self.scores[key] = answer.quality
            self.answered += 1
        return self.scores[key]


async def prepared_engine(options: SimulationOptions, data_dir: Path, bank: QuestionBank) -> Engine:
    """An offline engine on `data_dir` whose room holds the team history, embedded like a running engine's."""
    from hololoom_core.engine import Engine
    from hololoom_core.memory.service import MemoryService

    clock = SimulatedClock()
    engine = Engine(simulation_config(options, data_dir), clock=clock)
    await engine.start()
    engine.keep_batch([ChatMessage(room_id=ROOM, sender=f"@teammate{i % 5}:simulation", body=m.body,
                                   ts=clock.now() - 86_400 + i, actionable=False) for i, m in enumerate(bank.history)])
    memory = engine.find_capability(MemoryService)
    if memory is not None:
        await memory.prepare()
        await memory.embed_backlog()
    return engine


async def run_tune(options: TuneOptions, agents: list[str] | None = None) -> dict[str, Any]:
    """Run the UCT search (and the exhaustive one with `compare`); returns the figures `hololoom tune` prints."""
    import numpy as np

    from hololoom_core.improving.bank import load_bank

    started = time.perf_counter()
    bank = options.bank or load_bank()
    rng = np.random.default_rng(options.seed)
    questions = options.questions or [bank.questions[i].text for i in
                                       rng.choice(len(bank.questions), size=min(options.replay, len(bank.questions)),
                                                  replace=False)]
    with tempfile.TemporaryDirectory(prefix="hololoom-tune-") as directory:
        engine = await prepared_engine(SimulationOptions(seed=options.seed, improve=False), Path(directory), bank)
        try:
            tuner = Tuner(engine, questions)
            levels = [list(RETRIEVAL), agents or agent_options(engine), list(LOOPS), list(PROMPTS)]
            order = {leaf: list(rng.permutation(len(questions))) for leaf in _all_leaves(levels)}
            pending: list[tuple[str, ...]] = []

            def evaluate(path: tuple[str, ...]) -> float:
                pending.append(path)
                position = tuner.next_question.get(path, 0)
                tuner.next_question[path] = position + 1
                return float(_sync_scores[(path, int(order[path][position % len(questions)]))])

            _sync_scores: dict[tuple[tuple[str, ...], int], float] = _LazyScores(tuner)
            search = await _run_search(levels, evaluate, options.budget, rng, tuner, order, questions)
            best_params = leaf_params(search.best)
            result: dict[str, Any] = {
                "budget": options.budget, "evaluations": search.evaluations, "replay_questions": len(questions),
                "leaves": len(_all_leaves(levels)), "leaves_visited": search.leaves,
                "best": dict(zip(("retrieval", "agent", "loop", "prompt"), search.best, strict=True)),
                "best_params": best_params, "best_estimate": search.best_mean, "best_visits": search.best_visits,
                "tree": [{"level": name, "options": stats} for name, stats in
                         zip(("retrieval", "agent", "loop", "prompt"), search.levels, strict=True)],
                "candidates": [{k: v for k, v in leaf_params(path).items() if k != "agent"}
                               for path, _mean, visits in search.ranked[:3] if visits > 1],
            }
            if options.compare:
                exhaustive = {}
                for leaf in _all_leaves(levels):
                    exhaustive[leaf] = float(np.mean([await tuner.score(leaf, i) for i in range(len(questions))]))
                best_leaf = max(exhaustive, key=lambda leaf: exhaustive[leaf])
                result.update({
                    "exhaustive_evaluations": len(exhaustive) * len(questions),
                    "exhaustive_best_score": round(exhaustive[best_leaf], 4),
                    "exhaustive_best": dict(zip(("retrieval", "agent", "loop", "prompt"), best_leaf, strict=True)),
                    "best_score": round(exhaustive[search.best], 4),
                    "share_of_best": round(exhaustive[search.best] / exhaustive[best_leaf], 4),
                    "share_of_evaluations": round(search.evaluations / (len(exhaustive) * len(questions)), 4),
                    "exhaustive_worst_score": round(min(exhaustive.values()), 4),
                })
            else:
                result["best_score"] = search.best_mean
        finally:
            await engine.close()
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


class _LazyScores(dict[tuple[tuple[str, ...], int], float]):
    """Scores computed ahead by `_run_search` (the search itself is synchronous)."""

    def __init__(self, tuner: Tuner) -> None:
        super().__init__()
        self.tuner = tuner

    def __missing__(self, key: tuple[tuple[str, ...], int]) -> float:
        return self.tuner.scores[key]


async def _run_search(levels: list[list[str]], evaluate: Any, budget: int, rng: Any, tuner: Tuner,
                      order: dict[tuple[str, ...], list[int]], questions: list[str]) -> Any:
    """UCT needs rewards synchronously; answers are async, so every leaf's replay answers are scored on first
    need by pre-computing the question the search will ask next (each leaf's next question is known)."""

    class Prefetching:
        def __call__(self, path: tuple[str, ...]) -> float:
            return float(evaluate(path))

    # Pre-score lazily: the search runs step by step, and before each step the leaf it may pick is unknown, so
    # score on demand by running the search in a loop that fills missing scores and retries (scores are memoised,
    # so a retry costs nothing extra and the evaluation count is the search's own).
    while True:
        tuner.next_question.clear()
        try:
            state = rng.bit_generator.state
            return uct_search(levels, Prefetching(), budget, rng)
        except KeyError as missing:
            rng.bit_generator.state = state
            path, index = missing.args[0]
            await tuner.score(path, index)


def _all_leaves(levels: list[list[str]]) -> list[tuple[str, ...]]:
    leaves: list[tuple[str, ...]] = [()]
    for options in levels:
        leaves = [(*leaf, option) for leaf in leaves for option in options]
    return leaves
