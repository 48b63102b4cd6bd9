"""Running compiled loops: generate, judge, refine and verify, each step recorded on the interaction.

`PromptlyLoopRunner` is installed as `engine.answer_path.loop_runner`. It picks the loop for an
answer (experiment variant, then the agent's loop, then the default), renders prompts from the
ultraprompt spec, repairs or re-asks malformed answers, falls back to the offline engine when the
language model fails (and says so in the answer), and records every step it takes or skips.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hololoom_core.answers.judge import JudgeOutcome, Preference
from hololoom_core.answers.loop_dsl import LoopProgram, Step, parse_loop
from hololoom_core.answers.spec import UltrapromptSpec
from hololoom_core.answers.ultraprompt import parse_answer, render_messages, render_sections
from hololoom_core.llm.base import AnswerRequest
from hololoom_core.models import Source, Verdict
from hololoom_core.promptly.repair import repair_answer
from hololoom_core.promptly.revise import add_caution, note_unsupported, tighten, unsupported_commands

if TYPE_CHECKING:
    from hololoom_core.answers.types import AnswerContext, Configuration, LoopResult
    from hololoom_core.engine.answering import AnswerPath

DEFAULT_TARGET = 0.8
CONCISE_BUDGET_WORDS = 450
DOWN_RECHECK_S = 30.0  # while the model is known to be down, answer offline without waiting on it


@dataclass(slots=True)
class Draft:
    """The answer as it stands: text, sections, who wrote it, its sources and (once judged) its verdict."""

    text: str
    sections: dict[str, str]
    provider: str
    sources: list[Source]
    from_model: bool
    footer: str = ""
    outcome: JudgeOutcome | None = None
    tried: set[str] = field(default_factory=set)

    def revised(self, sections: dict[str, str], spec: UltrapromptSpec, agent: str | None) -> Draft:
        """A copy with new sections, re-rendered, not yet judged."""
        text = render_sections(sections, footer=self.footer or None, spec=spec, agent=agent)
        return replace(self, text=text, sections=sections, outcome=None, tried=set(self.tried))


@dataclass(slots=True)
class _Run:
    """One loop execution: what it answers, with which spec, and the steps recorded so far."""

    path: AnswerPath
    request: AnswerRequest
    context: AnswerContext
    configuration: Configuration
    on_delta: Callable[[str], None]
    spec: UltrapromptSpec
    steps: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def agent(self) -> str:
        return self.request.agent


def scores_of(verdict: Verdict) -> dict[str, float]:
    """The names a loop condition can test: `quality` and every criterion."""
    return {"quality": verdict.score, **{c.name: c.score for c in verdict.criteria}}


class PromptlyLoopRunner:
    """Executes loop programs for the answer path (callable with the `LoopRunner` signature)."""

    def __init__(
        self,
        spec: UltrapromptSpec,
        default_loop: str,
        agent_loops: dict[str, str] | None = None,
        command_prefix: str = "!",
    ) -> None:
        self.spec = spec
        self.default_loop = default_loop
        self.agent_loops = dict(agent_loops or {})
        self.command_prefix = command_prefix
        self._programs: dict[str, LoopProgram] = {}
        self._specs: dict[str, UltrapromptSpec] = {}

    # -- choosing the loop and the spec ----------------------------------------------------------

    def compile(self, text: str) -> LoopProgram:
        """Parse (once) and return the loop program for `text`."""
        program = self._programs.get(text)
        if program is None:
            program = self._programs[text] = parse_loop(text)
        return program

    def program_for(self, agent: str, configuration: Configuration) -> LoopProgram:
        """The variant's loop, else the agent's, else the default; a variant's judge threshold applies."""
        params = configuration.params
        program = self.compile(params.get("loop") or self.agent_loops.get(agent) or self.default_loop)
        threshold = params.get("judge_threshold")
        return program.with_threshold(float(threshold)) if threshold is not None else program

    def spec_for(self, configuration: Configuration) -> UltrapromptSpec:
        """The spec with the variant's override (if any) merged over it."""
        override = configuration.params.get("spec") or {}
        if not override:
            return self.spec
        key = json.dumps(override, sort_keys=True)
        if key not in self._specs:
            self._specs[key] = self.spec.merged(override, f"variant {configuration.name}")
        return self._specs[key]

    # -- the loop ----------------------------------------------------------------------------------

    async def __call__(
        self,
        path: AnswerPath,
        request: AnswerRequest,
        context: AnswerContext,
        configuration: Configuration,
        on_delta: Callable[[str], None],
    ) -> LoopResult:
        """Run the configured loop for one question and return its result with every step recorded."""
        from hololoom_core.answers.types import LoopResult

        params = configuration.params
        if params.get("temperature") is not None:
            request.temperature = float(params["temperature"])
        if params.get("instructions"):
            request.instructions = "\n".join(p for p in (request.instructions, str(params["instructions"])) if p)
        program = self.program_for(request.agent, configuration)
        run = _Run(path, request, context, configuration, on_delta, self.spec_for(configuration))
        run.steps.append({"step": "loop", "program": str(program), "spec": run.spec.name})
        draft: Draft | None = None
        for step in program.steps:
            if step.kind == "generate":
                draft = await self.generate(run)
            elif draft is None:  # the parser guarantees generate comes first
                raise RuntimeError("loop step before generate")
            elif step.kind == "judge":
                draft.outcome = await self.judge(run, draft)
                run.steps.append(draft.outcome.as_step())
            elif step.kind == "refine":
                draft = await self.refine(run, draft, step)
            elif step.kind == "verify":
                draft = await self.verify(run, draft)
        assert draft is not None
        if draft.outcome is None:
            draft.outcome = await self.judge(run, draft)
            run.steps.append({**draft.outcome.as_step(), "auto": "the answer changed after the last judge"})
        text = draft.text
        if run.notices:
            text = text.rstrip() + "\n\n" + "\n".join(run.notices)
        return LoopResult(text, draft.sections, draft.outcome.verdict, draft.provider, run.steps,
                          sources=draft.sources)

    # -- generate ----------------------------------------------------------------------------------

    def _messages(self, run: _Run, request: AnswerRequest, *, history: list[str] | None = None,
                  extra: str = "", only: list[str] | None = None) -> list[dict[str, str]]:
        instructions = "\n".join(p for p in (request.instructions, extra) if p)
        return render_messages(
            run.spec,
            question=request.question,
            sources=request.sources,
            agent=request.agent,
            agent_brief=request.agent_brief,
            instructions=instructions,
            history=history if history is not None else request.history,
            only_sections=only,
        )

    async def _ask_model(self, run: _Run, request: AnswerRequest, *, stream: bool, history: list[str] | None = None,
                         extra: str = "") -> tuple[str, dict[str, Any]]:
        """One model answer (two calls when the spec chains PLAN then the rest); returns text and step details."""
        provider = run.path.provider
        details: dict[str, Any] = {}
        chunks = 0

        def counting(text: str) -> None:
            nonlocal chunks
            chunks += 1
            run.on_delta(text)

        if run.spec.options.chaining:
            plan_request = replace(request, messages=self._messages(
                run, request, history=history, extra=extra + "\nWrite only the PLAN section now.", only=["PLAN"]))
            plan_text = await provider.answer(plan_request, None)
            plan = parse_answer(plan_text, run.spec, run.agent).sections.get("PLAN") or plan_text.strip()
            history = [*(history or request.history), f"Your PLAN for this question:\n{plan}"]
            extra = extra + "\nNow write the whole answer; its PLAN section is the plan above."
            details["chaining"] = "plan first, then the answer"
        asked = replace(request, messages=self._messages(run, request, history=history, extra=extra))
        text = await provider.answer(asked, counting if stream else None)
        if stream:
            details["streamed_chunks"] = chunks
        return text, details

    async def generate(self, run: _Run) -> Draft:
        """Ask the provider; repair or re-ask a malformed answer; fall back to the offline engine on failure."""
        path, request = run.path, run.request
        provider = path.provider
        engine = path.engine
        llm_status = engine.status.get("llm", {})
        down_for = engine.clock.now() - float(llm_status.get("checked_ts", 0.0))
        if getattr(provider, "is_language_model", False) and llm_status.get("state") == "down" \
                and down_for < DOWN_RECHECK_S:
            run.steps.append({"step": "generate", "provider": provider.name, "status": "skipped",
                              "reason": f"{llm_status.get('detail')} (checked {down_for:.0f} s ago; "
                                        f"tried again after {DOWN_RECHECK_S:.0f} s)"})
            run.notices.append(f"_{llm_status.get('detail')}; the offline engine answered._")
        elif getattr(provider, "is_language_model", False):
            try:
                draft = await self._generate_with_model(run)
            except Exception as exc:  # an outage must not lose the answer
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                run.steps.append({"step": "generate", "provider": provider.name, "error": detail})
                engine.report_error("answer", f"{provider.name} failed ({detail}); answered with the offline engine")
                if getattr(exc, "unreachable", False) or isinstance(exc, (ConnectionError, OSError)):
                    engine.set_status("llm", "down", detail, checked_ts=engine.clock.now())
                run.notices.append(f"_{detail}; the offline engine answered._")
                draft = None
            if draft is not None:
                if llm_status.get("state") == "down":
                    status = await provider.status()
                    engine.set_status("llm", "ok" if status.available else "down", status.detail,
                                      checked_ts=engine.clock.now())
                return draft
        text = await path.fallback.answer(request)
        repaired = repair_answer(text, run.spec, None)
        step: dict[str, Any] = {"step": "generate", "provider": path.fallback.name}
        if repaired.actions:
            step["repairs"] = repaired.actions
        run.steps.append(step)
        return Draft(repaired.text, repaired.sections, path.fallback.name, list(request.sources), False,
                     footer=parse_answer(text, run.spec).footer)

    async def _generate_with_model(self, run: _Run) -> Draft | None:
        provider = run.path.provider
        text, details = await self._ask_model(run, run.request, stream=True)
        run.steps.append({"step": "generate", "provider": provider.name,
                          "model": getattr(provider, "model", None), **details})
        repaired = repair_answer(text, run.spec, run.agent)
        attempts = 0
        while not repaired.ok and attempts < run.spec.options.retries:
            attempts += 1
            run.steps.append({"step": "retry", "attempt": attempts, "missing": repaired.missing,
                              "repairs": repaired.actions})
            extra = ("Your previous answer was missing these sections: " + ", ".join(repaired.missing)
                     + ". Write the complete answer again with every section under its heading.")
            text, _details = await self._ask_model(run, run.request, stream=False, extra=extra,
                                                   history=[*run.request.history, text])
            repaired = repair_answer(text, run.spec, run.agent)
        if not repaired.ok:
            run.steps.append({"step": "fallback", "provider": run.path.fallback.name,
                              "reason": f"still missing {', '.join(repaired.missing)} after {attempts} retry(ies)"})
            run.notices.append(f"_{provider.name}'s answer was malformed (missing "
                               f"{', '.join(repaired.missing)}); the offline engine answered._")
            return None
        if repaired.actions:
            run.steps.append({"step": "repair", "actions": repaired.actions})
        return Draft(repaired.text, repaired.sections, provider.name, list(run.request.sources), True)

    # -- judge -------------------------------------------------------------------------------------

    async def judge(self, run: _Run, draft: Draft) -> JudgeOutcome:
        """Score the draft with the path's judge (the model judge when it has one)."""
        judge = run.path.judge
        agent = run.agent if draft.from_model else None
        fallback = getattr(judge, "fallback", None)
        llm_status = run.path.engine.status.get("llm", {})
        if fallback is not None and llm_status.get("state") == "down" and llm_status.get("checked_ts"):
            verdict = fallback.judge(run.request.question, draft.sections, draft.sources, agent)
            return JudgeOutcome(verdict, fallback=f"the judge model is down ({llm_status.get('detail')})")
        evaluate = getattr(judge, "evaluate", None)
        if evaluate is not None:
            return await evaluate(run.request.question, draft.sections, draft.sources, agent)
        return JudgeOutcome(judge.judge(run.request.question, draft.sections, draft.sources))

    async def _compare(self, run: _Run, current: Draft, candidate: Draft) -> Preference:
        """Which draft is better: the model judge compares them pairwise, otherwise their own verdicts decide."""
        judge = run.path.judge
        compare = getattr(judge, "compare", None)
        if getattr(judge, "fallback", None) is not None and compare is not None:
            return await compare(run.request.question, current.sections, candidate.sections, candidate.sources)
        assert current.outcome is not None and candidate.outcome is not None
        a, b = current.outcome.verdict.score, candidate.outcome.verdict.score
        winner = "tie" if abs(a - b) < 0.01 else ("A" if a > b else "B")
        return Preference(winner, [winner], f"verdicts {a:.2f} vs {b:.2f}, each on its own sources",
                          current.outcome.verdict.judge)

    # -- refine ------------------------------------------------------------------------------------

    async def refine(self, run: _Run, draft: Draft, step: Step) -> Draft:
        """Improve the draft round by round until the step's condition holds or its rounds run out."""
        if draft.outcome is None:
            draft.outcome = await self.judge(run, draft)
            run.steps.append({**draft.outcome.as_step(), "auto": "refine needs a verdict"})
        for round_number in range(1, step.max_rounds + 1):
            assert draft.outcome is not None
            verdict = draft.outcome.verdict
            if step.until is not None and step.until.holds(scores_of(verdict)):
                run.steps.append({"step": "refine", "round": round_number, "status": "done",
                                  "reason": f"{step.until} holds (quality {verdict.score:.2f})"})
                return draft
            target = self._target(step)
            candidate, strategy, change, skipped = await self._candidate(run, draft, verdict, target)
            if candidate is None:
                run.steps.append({"step": "refine", "round": round_number, "status": "skipped", "reason": skipped})
                return draft
            candidate.outcome = await self.judge(run, candidate)
            preference = await self._compare(run, draft, candidate)
            keep = preference.winner == "B"
            run.steps.append({
                "step": "refine", "round": round_number, "strategy": strategy, "change": change,
                "score_before": round(verdict.score, 4), "score_after": round(candidate.outcome.verdict.score, 4),
                "kept": "refined" if keep else "previous",
                "preference": {"winner": preference.winner, "votes": preference.votes, "judge": preference.judge,
                               "reason": preference.reason},
            })
            draft.tried.add(strategy)
            if keep:
                candidate.tried = set(draft.tried)
                draft = candidate
        if step.until is not None and draft.outcome is not None and not step.until.holds(scores_of(draft.outcome.verdict)):
            run.steps.append({"step": "refine", "status": "stopped",
                              "reason": f"{step.max_rounds} round(s) used; {step.until} does not hold "
                                        f"(quality {draft.outcome.verdict.score:.2f})"})
        return draft

    @staticmethod
    def _target(step: Step) -> float:
        if step.until is None:
            return DEFAULT_TARGET
        return max((c.value for c in step.until.comparisons), default=DEFAULT_TARGET)

    async def _candidate(
        self, run: _Run, draft: Draft, verdict: Verdict, target: float
    ) -> tuple[Draft | None, str, str, str]:
        """The next refined draft: (draft, strategy, change) or (None, '', '', why nothing applies)."""
        if draft.from_model:
            return await self._revise_with_model(run, draft, verdict, target)
        reasons: list[str] = []
        weak = sorted((c for c in verdict.criteria if c.score < target), key=lambda c: c.score)
        if not weak:
            return None, "", "", f"every criterion already scores >= {target:g}; nothing to refine"
        for criterion in weak:
            if criterion.name in ("grounded", "actionable"):
                if "more-context" in draft.tried:
                    reasons.append(f"{criterion.name}: more context was already tried")
                    continue
                candidate, change = await self._more_context(run, draft)
                if candidate is not None:
                    return candidate, "more-context", change, ""
                draft.tried.add("more-context")
                reasons.append(f"{criterion.name}: {change}")
            elif criterion.name == "concise":
                revision = tighten(draft.sections, CONCISE_BUDGET_WORDS)
                if revision.change and "tighten" not in draft.tried:
                    return draft.revised(revision.sections, run.spec, None), "tighten", revision.change, ""
                reasons.append("concise: " + ("already tightened" if "tighten" in draft.tried else
                                              "the answer is short, and the offline engine cannot write more than "
                                              "its sources hold"))
            elif criterion.name == "safe":
                revision = add_caution(draft.sections)
                if revision.change:
                    return draft.revised(revision.sections, run.spec, None), "caution", revision.change, ""
                reasons.append("safe: a caution is already present")
            elif criterion.name == "structure":
                repaired = repair_answer(draft.text, run.spec, None)
                if repaired.changed and repaired.ok:
                    return draft.revised(repaired.sections, run.spec, None), "repair", "; ".join(repaired.actions), ""
                reasons.append("structure: nothing left to repair without inventing content")
        return None, "", "", "offline engine: " + "; ".join(reasons)

    async def _more_context(self, run: _Run, draft: Draft) -> tuple[Draft | None, str]:
        """Retrieve again with wider limits; regenerate offline when that finds new sources."""
        from hololoom_core.answers.types import Configuration

        path = run.path
        current = {(s.kind, s.ref) for s in draft.sources}
        runbooks = sum(1 for s in draft.sources if s.kind == "runbook")
        messages = len(draft.sources) - runbooks
        config = path.engine.config.answer
        params = {**run.configuration.params, "max_runbooks": max(config.max_runbooks, runbooks) + 1,
                  "max_sources": max(config.max_sources, messages) * 2 or 4, "min_overlap": 0.2}
        wider = path.retrievers.retrieve(run.context, Configuration(run.configuration.name, params))
        new = [s for s in wider if (s.kind, s.ref) not in current]
        if not new:
            return None, "a wider retrieval found no new sources"
        request = replace(run.request, sources=wider)
        text = await path.fallback.answer(request)
        repaired = repair_answer(text, run.spec, None)
        candidate = Draft(repaired.text, repaired.sections, path.fallback.name, wider, False,
                          footer=parse_answer(text, run.spec).footer, tried=set(draft.tried))
        kinds = ", ".join(sorted({s.kind for s in new}))
        return candidate, f"{len(new)} more source(s) ({kinds}) retrieved with wider limits"

    async def _revise_with_model(
        self, run: _Run, draft: Draft, verdict: Verdict, target: float
    ) -> tuple[Draft | None, str, str, str]:
        weak = [c for c in verdict.criteria if c.score < target] or sorted(verdict.criteria, key=lambda c: c.score)[:1]
        critique = "\n".join(f"- {c.name} scored {c.score:.2f}: {c.reason}" for c in weak)
        extra = ("Revise your previous answer (shown above) to fix what the reviewer found, keeping every "
                 f"section:\n{critique}")
        try:
            text, _details = await self._ask_model(run, run.request, stream=False, extra=extra,
                                                   history=[*run.request.history, draft.text])
        except Exception as exc:
            return None, "", "", f"the model could not revise ({str(exc).splitlines()[0] if str(exc) else exc})"
        repaired = repair_answer(text, run.spec, run.agent)
        if not repaired.ok:
            return None, "", "", f"the revision was malformed (missing {', '.join(repaired.missing)})"
        candidate = Draft(repaired.text, repaired.sections, draft.provider, draft.sources, True, tried=set(draft.tried))
        return candidate, "revise", "model revision for " + ", ".join(c.name for c in weak), ""

    # -- verify ------------------------------------------------------------------------------------

    async def verify(self, run: _Run, draft: Draft) -> Draft:
        """Check inline commands (and, with a model, claims) against the sources; note what is unsupported."""
        if not run.spec.options.verification:
            run.steps.append({"step": "verify", "status": "skipped", "reason": "verification is off in the spec"})
            return draft
        runbooks = getattr(run.path.engine, "runbooks", None)
        checked, unsupported = unsupported_commands(draft.sections, run.request.question, draft.sources, runbooks,
                                                    self.command_prefix)
        claims: list[str] = []
        step: dict[str, Any] = {"step": "verify", "commands_checked": checked, "unsupported_commands": unsupported}
        if draft.from_model:
            claims, problem = await self._model_claims(run, draft)
            step["unsupported_claims"] = claims
            if problem:
                step["claims_check"] = problem
        revision = note_unsupported(draft.sections, unsupported, claims)
        if revision.change:
            step["change"] = revision.change
            run.steps.append(step)
            return draft.revised(revision.sections, run.spec, run.agent if draft.from_model else None)
        step["status"] = "ok"
        run.steps.append(step)
        return draft

    async def _model_claims(self, run: _Run, draft: Draft) -> tuple[list[str], str]:
        """Ask the judge model which claims the sources do not support (strict JSON); ('', problem) on failure."""
        from pydantic import BaseModel, ConfigDict, Field, ValidationError

        class Claims(BaseModel):
            model_config = ConfigDict(extra="forbid")
            unsupported: list[str] = Field(max_length=10)

        chat = getattr(run.path.provider, "chat", None)
        if chat is None:
            return [], "the provider has no chat interface"
        sources = "\n".join(f"[S{n}] {s.title}: {' '.join(s.excerpt.split())[:400]}"
                            for n, s in enumerate(draft.sources[:8], start=1)) or "(none)"
        messages = [
            {"role": "system", "content": "List the factual claims or commands in the answer that the sources do "
             "not support. Reply with one JSON object {\"unsupported\": [string, ...]} (empty list if none)."},
            {"role": "user", "content": f"Sources:\n{sources}\n\nAnswer:\n{draft.text}"},
        ]
        model = getattr(run.path.judge, "model", None)
        try:
            raw = await chat(messages, model=model, format=Claims.model_json_schema(), temperature=0.0)
            return [c.strip() for c in Claims.model_validate(json.loads(raw)).unsupported if c.strip()], ""
        except (ValueError, ValidationError) as exc:
            return [], f"malformed claims check ignored ({str(exc).splitlines()[0][:120]})"
        except Exception as exc:
            return [], f"claims check failed ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
