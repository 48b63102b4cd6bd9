"""Installs the Promptly layer on an engine: spec, judge, loop runner, experiments, re-asks, commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hololoom_core.answers.judge import HeuristicJudge
from hololoom_core.answers.spec import SpecError, UltrapromptSpec, default_spec, load_spec
from hololoom_core.engine.capabilities import Capability
from hololoom_core.promptly.commands import install_experiment_command
from hololoom_core.promptly.experiments import EXPERIMENTS_V1, ExperimentService
from hololoom_core.promptly.llm_judge import LanguageModelJudge
from hololoom_core.promptly.loops import PromptlyLoopRunner
from hololoom_core.promptly.reask import ReaskDetector

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


@dataclass(slots=True)
class Promptly:
    """The installed parts (`engine.capability(Promptly)`)."""

    spec: UltrapromptSpec
    judge: HeuristicJudge | LanguageModelJudge
    loop_runner: PromptlyLoopRunner
    experiments: ExperimentService

    def overview_data(self) -> dict[str, Any]:
        """What the app shows about answer quality machinery: experiments, the loop, the judge."""
        data = self.experiments.dashboard()
        data["loop"] = str(self.loop_runner.compile(self.loop_runner.default_loop))
        data["judge"] = self.judge.name
        data["spec"] = self.spec.name
        return data


def build_judge(engine: Engine, spec: UltrapromptSpec) -> HeuristicJudge | LanguageModelJudge:
    """The model judge when a language model answers (and the config allows it), else the heuristic one."""
    heuristic = HeuristicJudge(spec=spec)
    mode = engine.config.promptly.judge
    provider = engine.provider
    chat = getattr(provider, "chat", None)
    if mode == "heuristic":
        return heuristic
    if getattr(provider, "is_language_model", False) and chat is not None:
        llm = engine.config.llm
        return LanguageModelJudge(chat, model=llm.judge_model or llm.model, fallback=heuristic)
    if mode == "llm":
        engine.set_status("judge", "degraded", f"promptly.judge is 'llm' but provider {provider.name} is not a "
                          "language model; the heuristic judge scores answers")
    return heuristic


class PromptlyCapability(Capability):
    """Fills the judge and loop slots, runs experiments and re-ask detection; provides `Promptly`, `ExperimentService`."""

    name = "promptly"
    migrations = {"experiments": [EXPERIMENTS_V1]}

    def install(self, engine: Engine) -> None:
        """Wire the Promptly layer into the answer path and register its command and observers."""
        install_promptly(engine)


def install_promptly(engine: Engine) -> Promptly:
    """Wire the spec, judge, loop runner, experiments and re-ask detector into `engine`; returns the parts."""
    config = engine.config.promptly
    try:
        spec = load_spec(config.spec)
    except SpecError as exc:
        engine.report_error("promptly spec", f"{exc}; using the shipped spec")
        spec = default_spec()
    path = engine.answer_path
    judge = build_judge(engine, spec)
    runner = PromptlyLoopRunner(spec, config.loop, config.agent_loops, engine.config.bot.command_prefix)
    service = ExperimentService(engine)
    path.judge = judge
    path.loop_runner = runner
    settings = config.experiments
    path.observers.append(ReaskDetector(engine, settings.reask_window_minutes, settings.reask_similarity))
    enabled = engine.config.features.self_improving
    if enabled:
        path.choose_configuration = service.choose
        path.observers.append(service.observe_answer)
        engine.feedback_observers.append(service.observe_feedback)
    install_experiment_command(engine, service, enabled=enabled)
    promptly = Promptly(spec, judge, runner, service)
    engine.provide(promptly)
    engine.overview_panels["promptly"] = lambda _engine: promptly.overview_data()
    engine.provide(service)
    return promptly
