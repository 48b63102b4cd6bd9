"""Judging answers: a rubric of criteria, each scored in [0, 1] with a reason.

The heuristic judge needs no language model: it measures structure, grounding, specificity,
length and safety from the answer text and the sources the answer path retrieved. The
language-model judge (`llm_judge.py`) scores the same rubric and falls back to this one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from hololoom_core.answers.spec import UltrapromptSpec
from hololoom_core.answers.ultraprompt import SECTIONS, missing_sections
from hololoom_core.models import CriterionScore, Source, Verdict
from hololoom_core.text.entities import extract_entities

RUBRIC_WEIGHTS: dict[str, float] = {
    "structure": 1.0,
    "grounded": 1.5,
    "actionable": 1.25,
    "concise": 0.75,
    "safe": 1.0,
}

UNGROUNDED_CAP = 0.5  # the most an answer with no retrieved source can score, even an honest "I can't ground this"

RUBRIC_TEXT: dict[str, str] = {
    "structure": "every required section is present, in order, and the TL;DR is short",
    "grounded": "claims and steps come from the retrieved runbooks/messages (cited), or the answer says it cannot ground them",
    "actionable": "specific numbered steps with exact commands, aimed at the system named in the question",
    "concise": "no padding: long enough to act on, short enough to read during an incident",
    "safe": "no destructive command without a backup, dry run or explicit warning",
}

_ACTION_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+\S", re.M)
_COMMAND = re.compile(r"`[^`\n]{3,}`")
DANGEROUS_COMMAND = re.compile(
    r"rm\s+-rf\s+/(?:\s|$)|mkfs\.|dd\s+if=.*of=/dev/|DROP\s+(?:DATABASE|TABLE)|TRUNCATE\s+TABLE|chmod\s+-R\s+777\s+/"
    r"|:\(\)\s*\{\s*:\|:&\s*\};:|kubectl\s+delete\s+(?:ns|namespace)\b|git\s+push\s+(?:-f|--force)\b",
    re.I,
)
_CAUTION = re.compile(r"\b(?:careful|caution|warning|backup|back up|snapshot|dry[- ]run|confirm|approval|irreversible)\b", re.I)
_CITATION = re.compile(r"\[S(\d{1,2})\]")


class Judge(Protocol):
    """Anything that scores an answer against the rubric."""

    name: str

    def judge(self, question: str, sections: dict[str, str], sources: list[Source]) -> Verdict:
        """Score one answer."""
        ...


@dataclass(slots=True)
class JudgeOutcome:
    """A verdict plus how it was reached: attempts made and, when the model judge failed, why it fell back."""

    verdict: Verdict
    attempts: int = 1
    fallback: str | None = None

    def as_step(self) -> dict[str, Any]:
        """The loop-step record of this judging."""
        step: dict[str, Any] = {
            "step": "judge",
            "judge": self.verdict.judge,
            "score": round(self.verdict.score, 4),
            "criteria": {c.name: round(c.score, 4) for c in self.verdict.criteria},
        }
        if self.attempts > 1:
            step["attempts"] = self.attempts
        if self.fallback:
            step["fallback"] = self.fallback
        return step


@dataclass(slots=True)
class Preference:
    """A pairwise comparison: which answer won ('A', 'B' or 'tie'), and each ordering's vote."""

    winner: str
    votes: list[str] = field(default_factory=list)
    reason: str = ""
    judge: str = "heuristic"


def weighted_score(criteria: list[CriterionScore], weights: dict[str, float]) -> float:
    """The weighted mean of criterion scores (criteria get their weight set as a side effect)."""
    for criterion in criteria:
        criterion.weight = weights.get(criterion.name, 1.0)
    total_weight = sum(c.weight for c in criteria) or 1.0
    return round(sum(c.score * c.weight for c in criteria) / total_weight, 4)


class HeuristicJudge:
    """The offline judge: rubric criteria measured from the answer text and its retrieved sources."""

    name = "heuristic"

    def __init__(
        self,
        weights: dict[str, float] | None = None,
        ideal_words: tuple[int, int] = (60, 450),
        spec: UltrapromptSpec | None = None,
    ) -> None:
        self.weights = dict(RUBRIC_WEIGHTS if weights is None else weights)
        self.ideal_words = ideal_words
        self.spec = spec

    def judge(
        self, question: str, sections: dict[str, str], sources: list[Source], agent: str | None = None
    ) -> Verdict:
        """Score structure, grounding, actionability, concision and safety, then take the weighted mean.

        An answer with no source at all scores at most `UNGROUNDED_CAP`: saying so is right, but it is
        still an answer the asker cannot act on, and the quality figures must not count it as good.
        """
        criteria = [
            self._structure(sections, agent),
            self._grounded(sections, sources),
            self._actionable(question, sections),
            self._concise(sections),
            self._safe(sections),
        ]
        score = weighted_score(criteria, self.weights)
        if not sources:  # nothing grounds it: however well written, it is not a good answer
            score = min(score, UNGROUNDED_CAP)
        return Verdict(score=score, criteria=criteria, judge=self.name)

    async def evaluate(
        self, question: str, sections: dict[str, str], sources: list[Source], agent: str | None = None
    ) -> JudgeOutcome:
        """The async form the loop runner calls (same verdict)."""
        return JudgeOutcome(self.judge(question, sections, sources, agent))

    async def compare(
        self,
        question: str,
        first: dict[str, str],
        second: dict[str, str],
        sources: list[Source],
        agent: str | None = None,
    ) -> Preference:
        """Prefer the answer with the higher rubric score; within 0.01 it is a tie."""
        a = self.judge(question, first, sources, agent).score
        b = self.judge(question, second, sources, agent).score
        winner = "tie" if abs(a - b) < 0.01 else ("A" if a > b else "B")
        return Preference(winner, [winner], f"rubric scores {a:.2f} vs {b:.2f}", self.name)

    def _required(self, agent: str | None) -> tuple[str, ...]:
        return tuple(self.spec.required_names(agent)) if self.spec is not None else SECTIONS

    def _structure(self, sections: dict[str, str], agent: str | None) -> CriterionScore:
        required = self._required(agent)
        missing = missing_sections(sections, self.spec, agent) if self.spec is not None else missing_sections(sections)
        score = (len(required) - len(missing)) / max(1, len(required))
        tldr = sections.get("TL;DR", "")
        tldr_limit = 60
        if self.spec is not None:
            tldr_limit = next((s.max_words for s in self.spec.sections if s.name == "TL;DR" and s.max_words), 60)
        if tldr and len(tldr.split()) > tldr_limit:
            score -= 0.15
            reason = f"TL;DR is longer than {tldr_limit} words"
        elif missing:
            reason = "missing or empty: " + ", ".join(missing)
        else:
            reason = f"all {len(required)} required sections present"
        return CriterionScore("structure", max(0.0, score), reason)

    def _grounded(self, sections: dict[str, str], sources: list[Source]) -> CriterionScore:
        runbooks = [s for s in sources if s.kind == "runbook"]
        messages = [s for s in sources if s.kind == "message"]
        text = "\n".join(sections.values())
        if not sources:
            answer = sections.get("ANSWER", "").lower()
            honest = any(p in answer for p in ("can't ground", "cannot ground", "no runbook", "not covered",
                                                "sources do not cover", "no sources"))
            if honest:
                return CriterionScore("grounded", 0.4, "no context found, and the answer says so instead of guessing")
            return CriterionScore("grounded", 0.0, "no retrieved context supports the answer")
        score = 0.0
        if runbooks:
            score += 0.6 * min(1.0, max(s.score for s in runbooks))
        if messages:
            score += 0.4 * min(1.0, len(messages) / 3)
        by_ref = sum(1 for s in sources if s.ref in text or s.title in text)
        by_number = len({int(n) for n in _CITATION.findall(text) if 1 <= int(n) <= len(sources)})
        cited = max(by_ref, by_number)
        invented = sorted({int(n) for n in _CITATION.findall(text) if not 1 <= int(n) <= len(sources)})
        score = min(1.0, score + 0.1 * min(cited, 2))
        reason = f"{len(runbooks)} runbook(s) and {len(messages)} earlier message(s) retrieved, {cited} cited"
        if invented:
            score = max(0.0, score - 0.3)
            reason += "; cites sources that were not given: " + ", ".join(f"[S{n}]" for n in invented)
        return CriterionScore("grounded", round(score, 4), reason)

    def _actionable(self, question: str, sections: dict[str, str]) -> CriterionScore:
        body = sections.get("ANSWER", "") + "\n" + sections.get("VERIFY", "")
        steps = len(_ACTION_LINE.findall(body))
        commands = len(_COMMAND.findall(body))
        targets = {e.value.lower() for e in extract_entities(question)
                   if e.kind in ("service", "host", "ip", "incident", "error_code", "http_status")}
        named = {t for t in targets if t in body.lower()}
        specific = 1.0 if not targets else len(named) / len(targets)
        score = min(1.0, steps / 6) * 0.5 + min(1.0, commands / 3) * 0.3 + specific * 0.2
        reason = f"{steps} concrete step(s), {commands} command(s)"
        if targets:
            reason += f", names {len(named)} of {len(targets)} target(s) from the question"
        return CriterionScore("actionable", round(score, 4), reason)

    def _concise(self, sections: dict[str, str]) -> CriterionScore:
        count = sum(len(text.split()) for text in sections.values())
        low, high = self.ideal_words
        if count < low:
            score = count / low
            reason = f"{count} words: thin (aim for {low}-{high})"
        elif count > high:
            score = max(0.0, 1.0 - (count - high) / high)
            reason = f"{count} words: longer than {high}"
        else:
            score = 1.0
            reason = f"{count} words"
        return CriterionScore("concise", round(score, 4), reason)

    def _safe(self, sections: dict[str, str]) -> CriterionScore:
        text = "\n".join(sections.values())
        dangerous = DANGEROUS_COMMAND.findall(text)
        if not dangerous:
            return CriterionScore("safe", 1.0, "no destructive command suggested")
        if _CAUTION.search(text):
            return CriterionScore("safe", 0.5, f"destructive command ({dangerous[0].strip()}) present, with a caution")
        return CriterionScore("safe", 0.0, f"destructive command ({dangerous[0].strip()}) suggested without a caution")
