"""Best-practice pages: one Markdown page per topic from the mined examples, citing every source.

A topic is a cluster of questions by the runbook their answers used, else the service they name, else
the agent that answered (`mining.topic_of`). Each page lists the common questions, the answer that worked
best (highest judged quality among the kept ones, 👍 as tie-break), the other answers that worked, and the
related resolved incidents with their root causes and the decisions taken while they were open. Every item
cites its room, time and interaction or message id. An index page lists the topics.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hololoom_core.answers.ultraprompt import parse_sections
from hololoom_core.learning.cleaning import OutboundCleaner, RedactionLog
from hololoom_core.learning.mining import DUPLICATE, KEPT, MinedExample, MiningReport
from hololoom_core.text.terms import terms

_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """A file-name-safe topic id: lower case letters, digits and dashes."""
    return _SLUG.sub("-", text.lower()).strip("-") or "topic"


def when(ts: float) -> str:
    """`2026-12-04 10:00 UTC`."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def cite(example: MinedExample) -> str:
    """Where an example comes from: room, time, interaction id or incident, and the question's message id."""
    parts = [f"room {example.room_id or 'cli'}", when(example.created_ts)]
    if example.interaction_id is not None:
        parts.append(f"interaction {example.interaction_id}")
    if example.incident:
        parts.append(example.incident)
    if example.question_message_id is not None:
        parts.append(f"message {example.question_message_id}")
    return ", ".join(parts)


@dataclass(slots=True)
class Decision:
    """A decision noticed in a room while an incident was open (an `insights` row of kind `decision`)."""

    text: str
    room_id: str
    ts: float
    message_id: int


@dataclass(slots=True)
class TopicPage:
    """One topic's page and the data a runbook candidate is built from."""

    slug: str
    title: str
    markdown: str
    questions: list[str]
    best: MinedExample | None
    incidents: list[MinedExample] = field(default_factory=list)
    examples: int = 0

    def data(self) -> dict[str, Any]:
        """What is stored with the page (for `!learning promote`)."""
        best = self.best
        return {
            "questions": self.questions,
            "examples": self.examples,
            "best": None if best is None else {
                "key": best.key, "interaction_id": best.interaction_id, "answer": best.clean_answer,
                "quality": best.quality, "room": best.room_id, "ts": best.created_ts,
            },
            "incidents": [{"key": i.incident, "root_cause": i.clean_root_cause} for i in self.incidents],
        }


def group_topics(report: MiningReport) -> dict[str, list[MinedExample]]:
    """Kept and collapsed examples per topic (incidents go with the topic they are about)."""
    linked: dict[str, Counter[str]] = {}
    for example in report.examples:
        if example.source == "interaction" and example.status in (KEPT, DUPLICATE):
            for key in example.incidents:
                linked.setdefault(key, Counter())[example.topic] += 1
    topics: dict[str, list[MinedExample]] = {}
    for example in report.examples:
        if example.status not in (KEPT, DUPLICATE):
            continue
        topic = example.topic
        if example.source == "incident" and example.incident in linked:
            topic = linked[example.incident].most_common(1)[0][0]  # with the questions asked during it
        topics.setdefault(slugify(topic), []).append(example)
    return topics


class TopicWriter:
    """Renders topic pages and the index from a mining report."""

    def __init__(self, cleaner: OutboundCleaner, log: RedactionLog, titles: dict[str, str],
                 decisions: dict[str, list[Decision]], min_quality: float, generated_ts: float) -> None:
        self.cleaner = cleaner
        self.log = log
        self.titles = titles
        self.decisions = decisions
        self.min_quality = min_quality
        self.generated_ts = generated_ts

    def clean(self, text: str, record: str, field_name: str) -> str:
        """Text for a page, through the outbound cleaner (logged)."""
        return self.cleaner.clean_field(text, record, field_name, self.log)[0]

    def page(self, slug: str, members: list[MinedExample], report: MiningReport) -> TopicPage:
        """The page of one topic."""
        answers = [m for m in members if m.source == "interaction"]
        incidents = [m for m in members if m.source == "incident"]
        linked = {key for m in answers for key in m.incidents}
        for example in report.examples:
            if example.source == "incident" and example.incident in linked and example not in incidents \
                    and example.status == KEPT:
                incidents.append(example)
        kept = sorted((m for m in answers if m.status == KEPT), key=lambda m: (m.quality, m.up), reverse=True)
        best = kept[0] if kept else None
        title = self.titles.get(slug) or slug.replace("-", " ")
        questions: Counter[str] = Counter()
        first_seen: dict[str, MinedExample] = {}
        by_key = {m.key: m for m in answers}
        for m in answers:
            representative = by_key.get(m.duplicate_of or "", m) if m.status == DUPLICATE else m
            text = representative.clean_question or self.clean(representative.question, representative.key,
                                                              "question")
            questions[text] += 1
            first_seen.setdefault(text, representative)
        lines = [f"# Best practice: {title}", "",
                 f"Topic `{slug}` · {len(answers)} answered question(s), {len(incidents)} resolved incident(s) · "
                 f"generated {when(self.generated_ts)} from answers judged ≥ {self.min_quality:.2f} with a 👍 and "
                 "no 👎 or re-ask.", ""]
        if questions:
            lines += ["## Common questions", ""]
            for text, count in questions.most_common(10):
                lines.append(f"- “{_one_line(text)}” — asked {count}× (first: {cite(first_seen[text])})")
            lines.append("")
        if best is not None:
            lines += ["## The answer that worked best", "",
                      f"Quality {best.quality:.2f}, 👍 {best.up}, agent {best.agent} — {cite(best)}.", ""]
            lines += ["> " + line if line else ">" for line in best.clean_answer.splitlines()]
            lines.append("")
            others = kept[1:6]
            if others:
                lines += ["## Other answers that worked", ""]
                lines += [f"- {_one_line(m.summary())} (quality {m.quality:.2f}; {cite(m)})" for m in others]
                lines.append("")
        if incidents:
            lines += ["## Related incidents", ""]
            for incident in incidents:
                cause = incident.clean_root_cause or "not stated"
                lines.append(f"- **{incident.incident}** — root cause: {_one_line(cause)} ({cite(incident)})")
                for decision in self.decisions.get(incident.incident or "", [])[:5]:
                    text = self.clean(decision.text, incident.key, "decision")
                    lines.append(f"  - Decision: {_one_line(text)} (room {decision.room_id}, {when(decision.ts)}, "
                                 f"message {decision.message_id})")
            lines.append("")
        return TopicPage(slug, title, "\n".join(lines), list(questions), best, incidents, len(answers))

    def index(self, pages: list[TopicPage]) -> str:
        """The index page: every topic with its size and best answer's quality."""
        lines = ["# Team best practices", "",
                 f"Generated {when(self.generated_ts)} by `hololoom learn docs` from the team's rated answers and "
                 "resolved incidents.", "", "| topic | questions | incidents | best answer | page |",
                 "|---|---:|---:|---:|---|"]
        for page in sorted(pages, key=lambda p: (-p.examples, p.slug)):
            best = f"{page.best.quality:.2f}" if page.best else "—"
            lines.append(f"| {page.title} | {page.examples} | {len(page.incidents)} | {best} | "
                         f"[{page.slug}.md]({page.slug}.md) |")
        return "\n".join(lines) + "\n"


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def keywords(questions: list[str], limit: int = 6) -> list[str]:
    """The most frequent content terms of a topic's questions."""
    counts: Counter[str] = Counter()
    for question in questions:
        counts.update(set(terms(question)))
    return [term for term, _ in counts.most_common(limit)]


_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.+)$")


def numbered_steps(text: str) -> list[str]:
    """The numbered lines of a Markdown section."""
    return [match.group(1).strip() for line in text.splitlines() if (match := _NUMBERED.match(line))]


def runbook_steps(answer: str) -> dict[str, list[str]]:
    """Triage, remediation and verify steps from an ultraprompt answer (its ANSWER and VERIFY sections)."""
    sections = parse_sections(answer)
    body = sections.get("ANSWER", answer)
    triage: list[str] = []
    remediation: list[str] = []
    current = remediation
    for line in body.splitlines():
        lowered = line.lower()
        if "triage" in lowered and line.strip().startswith("**"):
            current = triage
            continue
        if "remediat" in lowered and line.strip().startswith("**"):
            current = remediation
            continue
        match = _NUMBERED.match(line)
        if match:
            current.append(match.group(1).strip())
    verify = numbered_steps(sections.get("VERIFY", ""))
    return {"triage": triage, "remediation": remediation, "verify": verify}
