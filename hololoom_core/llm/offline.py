"""The offline answer engine: retrieval plus runbooks plus rules, in the ultraprompt structure.

It is not a language model and says so in every answer. It answers from the runbooks the
answer path matched and from similar earlier messages, citing each with time, room and author.
When nothing grounds the question it says that, and lists what it would check.
"""

from __future__ import annotations

import time

from hololoom_core.answers.ultraprompt import render_sections
from hololoom_core.llm.base import AnswerRequest, DeltaCallback, ProviderStatus
from hololoom_core.llm.runbooks import Runbook, RunbookLibrary
from hololoom_core.models import Source
from hololoom_core.text.entities import extract_entities
from hololoom_core.text.times import format_time

OFFLINE_NOTICE = "_Offline engine: retrieval + runbooks + rules, not a language model._"


def cite_message(source: Source) -> str:
    """One citation line for an earlier message: time, room, author and an excerpt."""
    excerpt = source.excerpt.replace("\n", " ").strip()
    if len(excerpt) > 160:
        excerpt = excerpt[:157].rstrip() + "…"
    return f"{format_time(source.ts)} · {source.room_id or '?'} · {source.author or '?'}: “{excerpt}”"


def _numbered(lines: list[str] | tuple[str, ...], start: int = 1) -> str:
    return "\n".join(f"{number}. {line}" for number, line in enumerate(lines, start=start))


def _short(step: str, words: int = 16) -> str:
    """The first clause of a step, without its command, for the TL;DR."""
    head = step.split("`")[0]
    head = head.split(":")[0] if ":" in head else head
    head = head.rstrip(" ,;:(").strip()
    parts = head.split()
    text = " ".join(parts[:words]).rstrip(".,;")
    return text + ("…" if len(parts) > words else "")


def _sentence(text: str) -> str:
    """End a clause with a full stop unless it already ends with punctuation."""
    return text if text.endswith(("…", ".", "!", "?")) else text + "."


MAX_TRIAGE_STEPS = 6
MAX_REMEDIATION_STEPS = 4


class OfflineAnswerEngine:
    """Answers from matched runbooks and earlier messages, with rules for focus and honesty."""

    name = "offline"
    is_language_model = False

    def __init__(self, runbooks: RunbookLibrary) -> None:
        self.runbooks = runbooks

    async def status(self) -> ProviderStatus:
        """Always available: it needs nothing outside this process."""
        return ProviderStatus(self.name, True, f"offline engine with {len(self.runbooks)} runbooks")

    async def answer(self, request: AnswerRequest, on_delta: DeltaCallback | None = None) -> str:
        """Compose the answer; streaming is not simulated, the full text is returned at once."""
        return self.compose(request)

    def compose(self, request: AnswerRequest) -> str:
        """Build the four sections from the request's runbook and message sources."""
        runbook_sources = [s for s in request.sources if s.kind == "runbook"]
        message_sources = [s for s in request.sources if s.kind == "message"]
        runbooks = [(self.runbooks.get(s.ref), s) for s in runbook_sources]
        matched = [(runbook, source) for runbook, source in runbooks if runbook is not None]
        focus = self._focus(request.question)
        if not matched and not message_sources:
            sections = self._ungrounded(request, focus)
        elif not matched:
            sections = self._from_history(request, message_sources, focus)
        else:
            sections = self._from_runbooks(request, matched, message_sources, focus)
        footer = f"{OFFLINE_NOTICE} {self._source_summary(matched, message_sources)}"
        return render_sections(sections, footer=footer)

    @staticmethod
    def _focus(question: str) -> list[str]:
        """Targets named in the question (services, hosts, addresses...), then symptoms (statuses, errors)."""
        targets = {"service": "service", "host": "host", "ip": "address", "incident": "incident",
                   "commit": "commit", "file": "file"}
        symptoms = {"http_status": "HTTP", "error_code": "error"}
        found_targets: list[str] = []
        found_symptoms: list[str] = []
        for entity in extract_entities(question):
            if entity.kind in targets:
                item = f"{targets[entity.kind]} `{entity.value}`"
                if item not in found_targets:
                    found_targets.append(item)
            elif entity.kind in symptoms:
                item = f"{symptoms[entity.kind]} `{entity.value}`"
                if item not in found_symptoms:
                    found_symptoms.append(item)
        return found_targets + found_symptoms

    @staticmethod
    def _source_summary(matched: list[tuple[Runbook, Source]], messages: list[Source]) -> str:
        parts = []
        if matched:
            parts.append("runbook " + ", ".join(f"`{runbook.id}`" for runbook, _ in matched))
        if messages:
            parts.append(f"{len(messages)} earlier message(s)")
        return ("Sources: " + "; ".join(parts) + ".") if parts else "Sources: none found."

    def _from_runbooks(
        self,
        request: AnswerRequest,
        matched: list[tuple[Runbook, Source]],
        messages: list[Source],
        focus: list[str],
    ) -> dict[str, str]:
        primary, primary_source = matched[0]
        plan = [
            f"Match the question to a runbook: **{primary.title}** (`{primary.id}`, "
            f"match {primary_source.score:.2f}).",
        ]
        if messages:
            plan.append(f"Bring in {len(messages)} related earlier message(s) from the team's history.")
        else:
            plan.append("Look for related earlier messages: none found in the history.")
        if focus:
            plan.append("Keep the focus on " + ", ".join(focus) + ".")
        plan.append("Triage in the runbook's order, fix the most likely cause first, then verify.")

        answer: list[str] = [f"This looks like **{primary.title}**." + (f" {primary.summary}" if primary.summary else "")]
        targets = [item for item in focus if not item.startswith(("HTTP", "error"))]
        if targets:
            answer.append("Apply each step to " + ", ".join(targets) + " (replace `<svc>`, `<ns>`, `<host>` in the commands).")
        triage = primary.triage[:MAX_TRIAGE_STEPS]
        remediation = primary.remediation[:MAX_REMEDIATION_STEPS]
        if triage:  # a Markdown runbook from a package may have only some of the sections
            answer.append("**Triage**\n" + _numbered(triage))
        if remediation:
            answer.append("**Remediate**\n" + _numbered(remediation))
        left_out = len(primary.triage) - len(triage) + len(primary.remediation) - len(remediation)
        if left_out:
            answer.append(f"{left_out} more step(s) in the full runbook: `!runbook {primary.id}`.")
        if messages:
            answer.append("**From earlier conversations**\n" + "\n".join(f"- {cite_message(s)}" for s in messages))
        if len(matched) > 1:
            others = ", ".join(f"{runbook.title} (`{runbook.id}`, match {source.score:.2f})" for runbook, source in matched[1:])
            answer.append(f"Also consider: {others}.")
        if primary.escalate:
            answer.append(f"**Escalate:** {primary.escalate}")

        verify = list(primary.verify)
        verify.append("Post the result in this thread so the history records what worked.")

        tldr = f"{primary.title} (runbook `{primary.id}`)."
        if primary.triage:
            tldr += f" First: {_sentence(_short(primary.triage[0]))}"
        if primary.remediation:
            tldr += f" Most common fix: {_sentence(_short(primary.remediation[0]))}"
        return {"PLAN": _numbered(plan), "ANSWER": "\n\n".join(answer), "VERIFY": _numbered(verify), "TL;DR": tldr}

    def _from_history(self, request: AnswerRequest, messages: list[Source], focus: list[str]) -> dict[str, str]:
        plan = [
            "Match the question to a runbook: none matched well enough to rely on.",
            f"Answer from {len(messages)} related earlier message(s) instead, quoted as they were written.",
            "Say plainly what is not covered.",
        ]
        answer = [
            "No runbook covers this, but the team has talked about something related. "
            "These earlier messages are the best grounding I have:",
            "\n".join(f"- {cite_message(s)}" for s in messages),
            "I'm the offline engine, so I quote rather than interpret: read them in context before acting.",
        ]
        if focus:
            answer.append("What I would check next, for " + ", ".join(focus) + ":")
        else:
            answer.append("What I would check next:")
        answer.append(_numbered(self._generic_checks(focus)))
        verify = [
            "Confirm with the authors of the quoted messages that their situation matches yours.",
            "Re-check the symptom after each change and note the result here.",
        ]
        tldr = f"No runbook fits; {len(messages)} earlier message(s) look related — read them, then check recent changes and logs."
        return {"PLAN": _numbered(plan), "ANSWER": "\n\n".join(answer), "VERIFY": _numbered(verify), "TL;DR": tldr}

    def _ungrounded(self, request: AnswerRequest, focus: list[str]) -> dict[str, str]:
        plan = [
            "Match the question to a runbook: none matched.",
            "Search the earlier conversations: nothing related found.",
            "Say so instead of guessing, and list what I would check.",
        ]
        answer = [
            "I can't ground an answer to this: no runbook and no earlier conversation matches it. "
            "I'm the offline engine (retrieval + runbooks + rules, not a language model), so I won't guess.",
            "What I would check" + (" for " + ", ".join(focus) if focus else "") + ":",
            _numbered(self._generic_checks(focus)),
            "Ask again with the affected service, the symptom and when it started, or add a runbook for it.",
        ]
        verify = [
            "Nothing here is a claim to verify; treat the checks above as a starting point.",
            "Once the cause is known, write it down in this room so the next answer can use it.",
        ]
        tldr = "No grounded answer: no runbook or earlier message matches; start from recent changes, logs and dashboards."
        return {"PLAN": _numbered(plan), "ANSWER": "\n\n".join(answer), "VERIFY": _numbered(verify), "TL;DR": tldr}

    @staticmethod
    def _generic_checks(focus: list[str]) -> list[str]:
        target = focus[0] if focus else "the affected component"
        return [
            f"What changed recently around {target}: deploys, config, feature flags, infrastructure.",
            f"Dashboards and alerts for {target}: error rate, latency, saturation, since when.",
            f"Logs of {target} around the time it started, newest errors first.",
            "Who else is affected, and whether it is one host, one zone or everywhere.",
        ]


def measure_ms(start: float) -> float:
    """Milliseconds elapsed since a `time.perf_counter()` reading."""
    return (time.perf_counter() - start) * 1000.0
