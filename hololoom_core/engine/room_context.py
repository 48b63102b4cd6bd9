"""Answers that use the room: what was just said where the question was asked weighs in retrieval.

`RoomContextRetriever` is a retriever stage (run before the runbooks): it takes the asker's room's
recent messages (the last `window_minutes`, the question's own thread first) that carry a signal
(an error message, a stack trace, an error code or HTTP status, an incident id, a named service)
and cites them. `choose_runbooks` then lets those messages pick the runbook: when a message in the
room matches a runbook strongly and that runbook is a known cause of what the question asks about
(the question's runbook lists it as related), or the question names no runbook of its own, the
room's runbook comes first and the question's follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hololoom_core.answers.types import AnswerContext, Configuration
from hololoom_core.llm.runbooks import RunbookLibrary, RunbookMatch
from hololoom_core.models import Source, StoredMessage
from hololoom_core.text.entities import extract_entities

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

ROOM_CONTEXT_TITLE = "room context"
SIGNAL_ENTITIES = frozenset({"error_code", "http_status", "incident", "service"})
_ERROR_WORDS = re.compile(
    r"\b(?:error|exception|traceback|failed|failing|refused|timed?\s*out|timeout|limit\s+of\b.*\breached|"
    r"reached|exhausted|oom|killed|panic|fatal|denied|unavailable|crash\w*)\b|File \"[^\"]+\", line \d+|"
    r"^\s+at [\w.$]+\(",
    re.I | re.M,
)
# A question that points at the situation rather than naming it ("what should I check first?", "fix this").
DEICTIC = re.compile(
    r"\b(?:this|that|these|it|the\s+(?:error|errors|issue|problem|alert|incident)|"
    r"what\s+(?:should|do|can)\s+(?:i|we)\s+(?:check|do|look\s+at)|what'?s\s+(?:going\s+on|wrong|happening))\b",
    re.I,
)
ROOM_RUNBOOK_MIN = 0.6  # a room message must match a runbook at least this well (with one of its keywords)
QUESTION_RUNBOOK_MIN = 0.5  # a question's own weaker match is cited only when the room supports it


def signal_strength(message: StoredMessage) -> float:
    """How much a message says about the situation: error text and trace lines count most, then entities."""
    body = message.body
    score = 0.0
    if _ERROR_WORDS.search(body):
        score += 0.6
    kinds = {entity.kind for entity in extract_entities(body)}
    score += 0.15 * len(kinds & SIGNAL_ENTITIES)
    return min(1.0, score)


def is_room_context(source: Source) -> bool:
    """Whether a source was cited by the room-context stage."""
    return source.kind == "message" and source.title.startswith(ROOM_CONTEXT_TITLE)


@dataclass(frozen=True, slots=True)
class RoomContextLimits:
    """How far back the room counts, how many of its messages are read and how many are cited."""

    window_minutes: float = 30.0
    read: int = 40
    cite: int = 3
    min_signal: float = 0.45


class RoomContextRetriever:
    """A retriever stage: the recent messages of the asker's room that say what is going on."""

    name = "room-context"

    def __init__(self, engine: Engine, limits: RoomContextLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or RoomContextLimits()

    def recent_signals(self, context: AnswerContext) -> list[tuple[float, StoredMessage]]:
        """(weight, message) for the room's recent signal-bearing messages, best first."""
        if not context.room_id:
            return []
        limits = self.limits
        messages = self.engine.messages.recent(context.room_id, limit=limits.read)
        question = next((m for m in messages if m.id == context.message_id), None)
        now = question.ts if question is not None else self.engine.clock.now()
        weighted: list[tuple[float, StoredMessage]] = []
        for message in messages:
            if message.id == context.message_id or message.is_bot or message.redacted:
                continue
            if message.body.lstrip().startswith(("!", "/")) or message.ts > now:
                continue
            age_minutes = float((now - message.ts) // 60)  # whole minutes: the same question weighs the same
            if age_minutes > limits.window_minutes:
                continue
            strength = signal_strength(message)
            if strength < limits.min_signal:
                continue
            recency = 1.0 - 0.5 * age_minutes / limits.window_minutes
            same_thread = context.thread_id is not None and message.thread_id == context.thread_id
            weighted.append((round(strength * recency * (1.2 if same_thread else 1.0), 4), message))
        weighted.sort(key=lambda pair: (pair[0], pair[1].id), reverse=True)
        return weighted[: limits.cite]

    def retrieve(self, context: AnswerContext, configuration: Configuration, found: list[Source]) -> list[Source]:
        """The room's recent signal-bearing messages as sources (a variant may set `room_context: 0` to skip)."""
        if configuration.params.get("room_context") == 0:
            return []
        sources = []
        for weight, message in self.recent_signals(context):
            sources.append(Source(
                kind="message", ref=message.event_id, title=f"{ROOM_CONTEXT_TITLE} · message {message.id}",
                excerpt=message.body, score=weight, ts=message.ts, room_id=message.room_id,
                author=message.author, message_id=message.id,
            ))
        return sources


@dataclass(frozen=True, slots=True)
class RunbookChoice:
    """A runbook chosen for an answer, its confidence and why (the question, or a message in the room)."""

    match: RunbookMatch
    reason: str


def choose_runbooks(library: RunbookLibrary, question: str, room: list[Source], limit: int) -> list[RunbookChoice]:
    """The runbooks for a question given the room's recent messages, best first.

    The question's own matches count first. A runbook that a room message matches strongly comes
    before them when it is a known cause of the question's best match (listed in its `related`) and the
    room's evidence is stronger than the question's, or,
    when the question matched no runbook, the question points at the situation ("what should I check"); a weak question match that the room does not support
    is dropped, so an unrelated runbook is not offered just because one word matched.
    """
    asked = library.search(question, limit=max(limit, 3))
    room_best: dict[str, tuple[RunbookMatch, Source]] = {}
    for source in room:
        for match in library.search(source.excerpt, limit=2):
            if match.confidence < ROOM_RUNBOOK_MIN or not match.matched_keywords:
                continue
            known = room_best.get(match.runbook.id)
            if known is None or match.confidence > known[0].confidence:
                room_best[match.runbook.id] = (match, source)
    choices: list[RunbookChoice] = []
    top = asked[0] if asked else None
    refers_to_room = DEICTIC.search(question) is not None
    for runbook_id, (match, source) in sorted(room_best.items(), key=lambda item: -item[1][0].confidence):
        is_cause = top is not None and match.confidence > top.confidence and (
            runbook_id in top.runbook.related or runbook_id == top.runbook.id)
        if is_cause or (top is None and refers_to_room):
            who = source.author or "someone"
            choices.append(RunbookChoice(match, f"{who} in this room: message {source.message_id}"))
            break  # one runbook from the room: the strongest cause
    for match in asked:
        if any(choice.match.runbook.id == match.runbook.id for choice in choices):
            continue
        supported = match.runbook.id in room_best
        if match.confidence >= QUESTION_RUNBOOK_MIN or supported:
            choices.append(RunbookChoice(match, "the question"))
    return choices[:limit]
