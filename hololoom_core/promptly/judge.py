"""Judging answers: a rubric of criteria, each scored in [0, 1] with a reason.

The heuristic judge needs no language model: it measures structure, grounding, specificity,
length and safety from the answer text and the sources the answer path retrieved.
"""

from __future__ import annotations

import re
from typing import Protocol

from hololoom_core.models import CriterionScore, Source, Verdict
from hololoom_core.promptly.ultraprompt import SECTIONS, missing_sections

RUBRIC_WEIGHTS: dict[str, float] = {
    "structure": 1.0,
    "grounded": 1.5,
    "actionable": 1.25,
    "concise": 0.75,
    "safe": 1.0,
}

_ACTION_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+\S", re.M)
_COMMAND = re.compile(r"`[^`\n]{3,}`")
_DANGEROUS = re.compile(
    r"rm\s+-rf\s+/(?:\s|$)|mkfs\.|dd\s+if=.*of=/dev/|DROP\s+DATABASE|chmod\s+-R\s+777\s+/|:\(\)\s*\{\s*:\|:&\s*\};:",
    re.I,
)
_CAUTION = re.compile(r"\b(?:careful|caution|backup|back up|snapshot|dry[- ]run|confirm|approval|irreversible)\b", re.I)


class Judge(Protocol):
    """Anything that scores an answer against the rubric."""

    name: str

    def judge(self, question: str, sections: dict[str, str], sources: list[Source]) -> Verdict:
        """Score one answer."""
        ...


class HeuristicJudge:
    """The offline judge: rubric criteria measured from the answer text and its retrieved sources."""

    name = "heuristic"

    def __init__(self, weights: dict[str, float] | None = None, ideal_words: tuple[int, int] = (60, 450)) -> None:
        self.weights = dict(RUBRIC_WEIGHTS if weights is None else weights)
        self.ideal_words = ideal_words

    def judge(self, question: str, sections: dict[str, str], sources: list[Source]) -> Verdict:
        """Score structure, grounding, actionability, concision and safety, then take the weighted mean."""
        criteria = [
            self._structure(sections),
            self._grounded(sections, sources),
            self._actionable(sections),
            self._concise(sections),
            self._safe(sections),
        ]
        for criterion in criteria:
            criterion.weight = self.weights.get(criterion.name, 1.0)
        total_weight = sum(c.weight for c in criteria) or 1.0
        score = sum(c.score * c.weight for c in criteria) / total_weight
        return Verdict(score=round(score, 4), criteria=criteria, judge=self.name)

    def _structure(self, sections: dict[str, str]) -> CriterionScore:
        missing = missing_sections(sections)
        score = (len(SECTIONS) - len(missing)) / len(SECTIONS)
        tldr = sections.get("TL;DR", "")
        if tldr and len(tldr.split()) > 60:
            score -= 0.15
            reason = "TL;DR is longer than 60 words"
        elif missing:
            reason = "missing or empty: " + ", ".join(missing)
        else:
            reason = "all four sections present"
        return CriterionScore("structure", max(0.0, score), reason)

    def _grounded(self, sections: dict[str, str], sources: list[Source]) -> CriterionScore:
        runbooks = [s for s in sources if s.kind == "runbook"]
        messages = [s for s in sources if s.kind == "message"]
        if not sources:
            answer = sections.get("ANSWER", "").lower()
            honest = "can't ground" in answer or "cannot ground" in answer or "no runbook" in answer
            if honest:
                return CriterionScore("grounded", 0.4, "no context found, and the answer says so instead of guessing")
            return CriterionScore("grounded", 0.0, "no retrieved context supports the answer")
        score = 0.0
        if runbooks:
            score += 0.6 * min(1.0, max(s.score for s in runbooks))
        if messages:
            score += 0.4 * min(1.0, len(messages) / 3)
        cited = sum(1 for s in sources if s.ref in " ".join(sections.values()) or s.title in " ".join(sections.values()))
        score = min(1.0, score + 0.1 * min(cited, 2))
        reason = f"{len(runbooks)} runbook(s) and {len(messages)} earlier message(s) retrieved, {cited} cited"
        return CriterionScore("grounded", round(score, 4), reason)

    def _actionable(self, sections: dict[str, str]) -> CriterionScore:
        body = sections.get("ANSWER", "") + "\n" + sections.get("VERIFY", "")
        steps = len(_ACTION_LINE.findall(body))
        commands = len(_COMMAND.findall(body))
        score = min(1.0, steps / 6) * 0.6 + min(1.0, commands / 3) * 0.4
        return CriterionScore("actionable", round(score, 4), f"{steps} concrete step(s), {commands} command(s)")

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
        dangerous = _DANGEROUS.findall(text)
        if not dangerous:
            return CriterionScore("safe", 1.0, "no destructive command suggested")
        if _CAUTION.search(text):
            return CriterionScore("safe", 0.5, "destructive command present, with a caution")
        return CriterionScore("safe", 0.0, "destructive command suggested without a caution")
