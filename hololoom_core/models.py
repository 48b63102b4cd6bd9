"""Data that crosses module boundaries: chat messages, replies, sources, answers and interactions."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


def new_event_id(prefix: str = "local") -> str:
    """Return a fresh, unique event id for a message that did not come from Matrix."""
    return f"${prefix}-{uuid.uuid4().hex[:20]}"


@dataclass(slots=True)
class Attachment:
    """A file or image that came with a message (its text, when extracted, is indexed)."""

    name: str
    mimetype: str
    size: int
    url: str | None = None
    text: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChatMessage:
    """One message from any transport (simulated room, Matrix, CLI), before it is stored."""

    room_id: str
    sender: str
    body: str
    transport: str = "local"
    event_id: str = field(default_factory=new_event_id)
    ts: float = field(default_factory=time.time)
    thread_id: str | None = None
    reply_to: str | None = None
    sender_name: str | None = None
    room_name: str | None = None
    is_direct: bool = False
    mentions_bot: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    # False for messages kept but never acted on: imported history, Matrix notices from other bots.
    actionable: bool = True


@dataclass(slots=True)
class StoredMessage:
    """A message as kept in the store, with its row id and the redacted body that was indexed."""

    id: int
    event_id: str
    transport: str
    room_id: str
    sender: str
    body: str
    ts: float
    thread_id: str | None = None
    reply_to: str | None = None
    sender_name: str | None = None
    is_bot: bool = False
    kind: str = "chat"
    redacted: bool = False
    edited_ts: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    delivery: str | None = None  # bot messages: `pending` until the transport sent them, then `sent` / `failed`

    @property
    def author(self) -> str:
        """The name to show for the sender."""
        return self.sender_name or self.sender


@dataclass(slots=True)
class Source:
    """A piece of context an answer used: a runbook or an earlier message, with how well it matched."""

    kind: str
    ref: str
    title: str
    excerpt: str
    score: float
    ts: float | None = None
    room_id: str | None = None
    author: str | None = None
    message_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output and storage."""
        return {
            "kind": self.kind,
            "ref": self.ref,
            "title": self.title,
            "excerpt": self.excerpt,
            "score": round(self.score, 4),
            "ts": self.ts,
            "room": self.room_id,
            "author": self.author,
            "message_id": self.message_id,
        }


@dataclass(slots=True)
class CriterionScore:
    """One rubric criterion's score in [0, 1] and the reason for it."""

    name: str
    score: float
    reason: str
    weight: float = 1.0


@dataclass(slots=True)
class Verdict:
    """A judge's verdict on one answer: the overall score and each criterion."""

    score: float
    criteria: list[CriterionScore]
    judge: str

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output and storage."""
        return {
            "score": round(self.score, 4),
            "judge": self.judge,
            "criteria": {
                c.name: {"score": round(c.score, 4), "reason": c.reason, "weight": c.weight} for c in self.criteria
            },
        }


@dataclass(slots=True)
class Answer:
    """A finished answer: its sections, who produced it, how good it was judged and how long it took."""

    sections: dict[str, str]
    markdown: str
    agent: str
    provider: str
    configuration: str
    verdict: Verdict
    latency_ms: float
    sources: list[Source]
    grounded: bool
    loop_steps: list[dict[str, Any]] = field(default_factory=list)
    interaction_id: int | None = None
    # routing decision, prediction, and a collaboration's agents / contributions / consensus; stored with the
    # interaction and printed at the top level of `ask --json`
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def quality(self) -> float:
        """The judge's overall score."""
        return self.verdict.score

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape printed by `hololoom ask --json`."""
        return {
            "sections": dict(self.sections),
            "agent": self.agent,
            "provider": self.provider,
            "configuration": self.configuration,
            "quality": round(self.quality, 4),
            "judge": self.verdict.as_dict(),
            "latency_ms": round(self.latency_ms, 3),
            "grounded": self.grounded,
            "sources": [s.as_dict() for s in self.sources],
            "loop_steps": list(self.loop_steps),
            "interaction_id": self.interaction_id,
            "markdown": self.markdown,
            **self.details,
        }


@dataclass(slots=True)
class Reply:
    """Something the bot says back: Markdown text for a room, optionally in a thread."""

    room_id: str
    body: str
    kind: str = "answer"
    thread_id: str | None = None
    in_reply_to: str | None = None
    answer: Answer | None = None
    event_id: str = field(default_factory=lambda: new_event_id("bot"))
    message_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # stored with the message (e.g. Matrix `msgtype`)


@dataclass(slots=True)
class Insight:
    """Something the proactive detectors noticed in a message (decision, action item, question, incident)."""

    kind: str
    message_id: int
    room_id: str
    text: str
    confidence: float
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    ts: float = field(default_factory=time.time)


@dataclass(slots=True)
class HandleResult:
    """What `Engine.handle` did with one message."""

    message: StoredMessage | None
    insights: list[Insight] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    duplicate: bool = False
