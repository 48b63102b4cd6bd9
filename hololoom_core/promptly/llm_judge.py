"""The language-model judge: the same rubric, scored by a model, with a strict JSON verdict.

The model is asked for one JSON object (Ollama's `format` carries the JSON schema) and the reply
is validated with pydantic. A malformed verdict is re-asked once with the validation error;
a second failure falls back to the heuristic judge, and the outcome records why. Pairwise
comparisons ask twice with the answers swapped and only count a win both orders agree on,
which cancels the model's position bias.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hololoom_core.answers.judge import (
    RUBRIC_TEXT,
    RUBRIC_WEIGHTS,
    HeuristicJudge,
    JudgeOutcome,
    Preference,
    weighted_score,
)
from hololoom_core.models import CriterionScore, Source, Verdict

ChatFunction = Callable[..., Awaitable[str]]


class CriterionVerdict(BaseModel):
    """One criterion as the model must return it."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0.0, le=1.0)
    reason: str = Field(min_length=3, max_length=400)


class ModelVerdict(BaseModel):
    """The whole verdict as the model must return it: every rubric criterion, nothing else."""

    model_config = ConfigDict(extra="forbid")

    structure: CriterionVerdict
    grounded: CriterionVerdict
    actionable: CriterionVerdict
    concise: CriterionVerdict
    safe: CriterionVerdict


class ModelPreference(BaseModel):
    """A pairwise choice as the model must return it."""

    model_config = ConfigDict(extra="forbid")

    winner: Literal["A", "B", "tie"]
    reason: str = Field(min_length=3, max_length=400)


def _answer_block(sections: dict[str, str]) -> str:
    return "\n\n".join(f"## {name}\n{body.strip()}" for name, body in sections.items() if body.strip())


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        return f"{where}: {error['msg']}"
    return str(exc).splitlines()[0][:200]


class LanguageModelJudge:
    """Scores answers with a language model through a chat function (e.g. `OllamaProvider.chat`)."""

    def __init__(
        self,
        chat: ChatFunction,
        *,
        model: str | None,
        fallback: HeuristicJudge,
        weights: dict[str, float] | None = None,
        max_source_chars: int = 400,
    ) -> None:
        self.chat = chat
        self.model = model
        self.fallback = fallback
        self.weights = dict(RUBRIC_WEIGHTS if weights is None else weights)
        self.max_source_chars = max_source_chars
        self.name = f"llm:{model}" if model else "llm"

    def judge(self, question: str, sections: dict[str, str], sources: list[Source]) -> Verdict:
        """The synchronous protocol method: a model cannot be awaited here, so the heuristic verdict."""
        return self.fallback.judge(question, sections, sources)

    def _rubric(self) -> str:
        return "\n".join(f"- {name}: {RUBRIC_TEXT[name]}" for name in RUBRIC_WEIGHTS)

    def _sources(self, sources: list[Source]) -> str:
        lines = []
        for number, source in enumerate(sources[:8], start=1):
            excerpt = " ".join(source.excerpt.split())[: self.max_source_chars]
            lines.append(f"[S{number}] {source.kind} {source.title}: {excerpt}")
        return "\n".join(lines) or "(none were retrieved)"

    async def _ask(self, messages: list[dict[str, str]], schema: type[BaseModel]) -> tuple[BaseModel | None, int, str]:
        """Ask for a JSON object of `schema`; re-ask once on a malformed reply. Returns (parsed, attempts, error)."""
        error = ""
        for attempt in (1, 2):
            asked = list(messages)
            if error:
                asked.append({"role": "user", "content": f"Your previous reply was not valid ({error}). "
                              "Reply again with only the JSON object, exactly in the schema."})
            try:
                raw = await self.chat(asked, model=self.model, format=schema.model_json_schema(), temperature=0.0)
            except Exception as exc:  # provider failures are recorded, then the heuristic judge answers
                return None, attempt, f"judge model call failed: {exc}"
            try:
                return schema.model_validate(json.loads(raw)), attempt, ""
            except (ValueError, ValidationError) as exc:
                error = _first_error(exc)
        return None, 2, f"malformed verdict twice ({error})"

    async def evaluate(
        self, question: str, sections: dict[str, str], sources: list[Source], agent: str | None = None
    ) -> JudgeOutcome:
        """Score one answer on the rubric; falls back to the heuristic judge (recorded) when the model fails."""
        messages = [
            {"role": "system", "content": "You are a strict reviewer of answers given to on-call engineers. "
             "Score each criterion from 0.0 (fails) to 1.0 (excellent) with a one-sentence reason. "
             "Reply with one JSON object with the keys structure, grounded, actionable, concise, safe; "
             "each maps to {\"score\": number, \"reason\": string}."},
            {"role": "user", "content": f"Rubric:\n{self._rubric()}\n\nQuestion: {question}\n\n"
             f"Sources the answer could use:\n{self._sources(sources)}\n\nAnswer to judge:\n{_answer_block(sections)}"},
        ]
        parsed, attempts, error = await self._ask(messages, ModelVerdict)
        if parsed is None:
            verdict = self.fallback.judge(question, sections, sources, agent)
            return JudgeOutcome(verdict, attempts=attempts, fallback=error)
        assert isinstance(parsed, ModelVerdict)
        criteria = [
            CriterionScore(name, float(getattr(parsed, name).score), getattr(parsed, name).reason.strip())
            for name in RUBRIC_WEIGHTS
        ]
        verdict = Verdict(score=weighted_score(criteria, self.weights), criteria=criteria, judge=self.name)
        return JudgeOutcome(verdict, attempts=attempts)

    async def _prefer(
        self, question: str, first: dict[str, str], second: dict[str, str], sources: list[Source]
    ) -> tuple[str | None, str]:
        messages = [
            {"role": "system", "content": "You compare two answers to the same on-call question on the rubric. "
             "Position must not matter. Reply with one JSON object {\"winner\": \"A\"|\"B\"|\"tie\", "
             "\"reason\": string}."},
            {"role": "user", "content": f"Rubric:\n{self._rubric()}\n\nQuestion: {question}\n\nSources:\n"
             f"{self._sources(sources)}\n\n=== Answer A ===\n{_answer_block(first)}\n\n"
             f"=== Answer B ===\n{_answer_block(second)}"},
        ]
        parsed, _attempts, error = await self._ask(messages, ModelPreference)
        if parsed is None:
            return None, error
        assert isinstance(parsed, ModelPreference)
        return parsed.winner, parsed.reason

    async def compare(
        self,
        question: str,
        first: dict[str, str],
        second: dict[str, str],
        sources: list[Source],
        agent: str | None = None,
    ) -> Preference:
        """Ask in both orders; a side wins only when both orders pick it, otherwise it is a tie."""
        vote_ab, reason_ab = await self._prefer(question, first, second, sources)
        vote_ba, reason_ba = await self._prefer(question, second, first, sources)
        if vote_ab is None or vote_ba is None:
            preference = await self.fallback.compare(question, first, second, sources, agent)
            preference.reason = f"{reason_ab or reason_ba}; heuristic comparison used ({preference.reason})"
            return preference
        unswapped = {"A": "A", "B": "B", "tie": "tie"}[vote_ab]
        swapped = {"A": "B", "B": "A", "tie": "tie"}[vote_ba]  # in the swapped call, 'A' was our second answer
        winner = unswapped if unswapped == swapped else "tie"
        reason = reason_ab if unswapped == swapped else f"the two orders disagree ({reason_ab} / {reason_ba})"
        return Preference(winner, [unswapped, swapped], reason, self.name)

