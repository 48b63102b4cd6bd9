"""The proactive detectors: decisions, action items (owner, due date), questions, incident signals.

`analyse_text` is pure: text and the room's rules in, detections out (the `hololoom detect`
command uses it). `ProactiveDetector.detect` adds what needs memory: whether a decision reverses
an earlier one, whether a message answers an open question or completes an open action item.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hololoom_core.memory.patterns import DetectorRules, RoomPatterns
from hololoom_core.models import Insight, StoredMessage

if TYPE_CHECKING:
    from hololoom_core.memory.service import MemoryService

_SELF_OWNER = re.compile(r"^(?:i\b|i'|i\s|on\s+it|will\b|leave\s+it|me\b|myself\b)", re.I)
# Where one message holds several action items: after a sentence, or before "and @name" ("@bob will … and @marco will …").
_CLAUSE_BREAK = re.compile(r"(?<=[.!?;])\s+(?=\S)|\s+and\s+(?=@[a-z])", re.I)
# A clause that only says whose or when ("Owner: me, due Thursday.") belongs to the item before it.
_META_CLAUSE = re.compile(r"^\s*(?:owner|assignee|due|deadline)\b\s*[:,-]?", re.I)
_NOT_PEOPLE = frozenset(
    "we you they someone somebody anyone anybody everyone it this that team who what which there he she "
    "nobody people folks all i me us them".split()
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MAX_TEXT = 300


@dataclass(slots=True)
class Detection:
    """One insight type found in a text, with its confidence and why."""

    kind: str
    confidence: float
    matched: list[str]
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"kind": self.kind, "confidence": round(self.confidence, 3), "matched": self.matched, **self.data}


def localpart(user: str) -> str:
    """`@alice:example.org` → `alice`; a plain name is lower-cased."""
    return user.lstrip("@").split(":", 1)[0].lower()


def resolve_due(phrase: str, ts: float) -> str:
    """A due phrase as an ISO date relative to the message time (`friday` → the next Friday), or the phrase."""
    text = " ".join(phrase.lower().split())
    day = datetime.fromtimestamp(ts, tz=UTC).date()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    if text in ("eod", "end of day", "today", "tonight") or re.fullmatch(r"\d{1,2}(?::\d{2})?\s*(?:am|pm|utc)", text):
        return day.isoformat()
    if text == "tomorrow":
        return (day + timedelta(days=1)).isoformat()
    if text in ("end of week", "next week"):
        ahead = (4 - day.weekday()) % 7 if text == "end of week" else 7 - day.weekday()
        return (day + timedelta(days=ahead)).isoformat()
    name = text.removeprefix("next ").strip()
    if name in _WEEKDAYS:
        ahead = (_WEEKDAYS.index(name) - day.weekday()) % 7 or 7
        if text.startswith("next ") and ahead < 7:
            ahead += 7 if ahead <= 2 else 0
        return (day + timedelta(days=ahead)).isoformat()
    return text


def _owner(rules: DetectorRules, text: str, sender: str, people: frozenset[str]) -> str | None:
    for pattern in rules.owner_patterns:
        for match in pattern.finditer(text):
            try:
                raw = match.group("owner")
            except IndexError:
                continue
            if raw is None:
                continue
            if _SELF_OWNER.match(raw):
                return localpart(sender)
            name = raw.lower().lstrip("@").rstrip(".,:")
            mentioned = match.start("owner") > 0 and text[match.start("owner") - 1] == "@"
            if name in _NOT_PEOPLE:
                continue
            if mentioned or name in people:
                return name
    return None


def _due(rules: DetectorRules, text: str, ts: float) -> tuple[str, str] | None:
    for pattern in rules.due_patterns:
        match = pattern.search(text)
        if match is not None:
            phrase = match.group("due") if "due" in pattern.groupindex else match.group(0)
            return " ".join(phrase.lower().split()), resolve_due(phrase, ts)
    return None


def action_items(
    text: str, rules: DetectorRules, *, sender: str, ts: float, people: frozenset[str]
) -> list[dict[str, Any]]:
    """Each action item in a message, clause by clause: its text, owner (the speaker for "I'll …") and due date.

    "Action items: @bob will add an alert by Friday. @marco will review pool sizing by next Wednesday."
    holds two items; "I'll take IC. Alice, is it all pods?" holds one, the speaker's (a question to
    Alice is not a task for her). Empty when no single clause is an action item on its own.
    """
    items: list[dict[str, Any]] = []
    for clause in (part.strip() for part in _CLAUSE_BREAK.split(text)):
        if not clause:
            continue
        owner = _owner(rules, clause, sender, people)
        due = _due(rules, clause, ts)
        if items and _META_CLAUSE.match(clause):
            if owner and not items[-1].get("owner"):
                items[-1]["owner"] = owner
            if due is not None and not items[-1].get("due_text"):
                items[-1]["due_text"], items[-1]["due"] = due
            continue
        confidence, _matched = rules.score(clause)
        if confidence < rules.threshold or confidence <= 0:
            continue
        item: dict[str, Any] = {"text": clause, "owner": owner}
        if due is not None:
            item["due_text"], item["due"] = due
        items.append(item)
    return items


def analyse_text(
    text: str,
    rules: RoomPatterns,
    *,
    sender: str = "me",
    ts: float = 0.0,
    people: Iterable[str] = (),
    candidates: int | None = None,
) -> list[Detection]:
    """The insight types in one text, by the room's rules (best first); no memory needed.

    `candidates` is `rules.candidates(text)` if the caller has it already (one prefilter pass per text).
    """
    people_set = people if isinstance(people, frozenset) else frozenset(localpart(p) for p in people)
    if candidates is None:
        candidates = rules.candidates(text)
    found: list[Detection] = []
    for kind, detector in rules.detectors.items():
        if not detector.enabled:
            continue
        confidence, matched = detector.score(text, candidates)
        if confidence < detector.threshold or confidence <= 0:
            continue
        data: dict[str, Any] = {}
        if kind == "action_item":
            owner = _owner(detector, text, sender, people_set)
            due = _due(detector, text, ts)
            items = action_items(text, detector, sender=sender, ts=ts, people=people_set)
            if items:  # the first item's owner and due are the message's
                owner, due = items[0].get("owner"), None
                if items[0].get("due_text"):
                    due = (items[0]["due_text"], items[0]["due"])
                if len(items) > 1:
                    data["items"] = items
            if owner:
                data["owner"] = owner
            if due is not None:
                data["due_text"], data["due"] = due
        elif kind == "incident_signal":
            for severity, pattern in detector.severity_patterns:
                if pattern.search(text):
                    data["severity"] = severity
                    break
        found.append(Detection(kind, confidence, matched, data))
    found.sort(key=lambda detection: -detection.confidence)
    return found


class ProactiveDetector:
    """The engine's detector: text detections plus reversals, answers and completions from memory."""

    def __init__(self, memory: MemoryService, is_for_bot: Callable[[str], bool], command_prefix: str) -> None:
        self.memory = memory
        self.is_for_bot = is_for_bot
        self.command_prefix = command_prefix
        self.detections = 0

    def detect(self, message: StoredMessage) -> list[Insight]:
        """Every insight in one stored message."""
        if message.is_bot or message.redacted or not message.body.strip():
            return []
        if message.body.lstrip().startswith(self.command_prefix):
            return []
        rules = self.memory.patterns.for_room(message.room_id)
        text = message.body
        candidates = rules.candidates(text)
        detections = analyse_text(text, rules, sender=message.sender, ts=message.ts,
                                  people=self.memory.people_snapshot(), candidates=candidates)
        if message.meta.get("addressed_to_bot") or self.is_for_bot(text):
            detections = [d for d in detections if d.kind != "question"]  # the bot answers those itself
        tracker = self.memory.items
        insights: list[Insight] = []
        kinds = {d.kind for d in detections}
        for detection in detections:
            if detection.kind == "action_item" and detection.data.get("items"):
                for item in detection.data["items"]:  # several items in one message: one insight each
                    if tracker.restated_action(message, item.get("owner"), item["text"]):
                        continue
                    data = {key: value for key, value in detection.data.items() if key != "items"}
                    data.update({key: item[key] for key in ("owner", "due_text", "due") if item.get(key)})
                    for key in ("owner", "due_text", "due"):
                        if not item.get(key):
                            data.pop(key, None)
                    insights.append(self._insight("action_item", message, detection.confidence,
                                                  {"matched": detection.matched, **data}, text=item["text"]))
                continue
            if detection.kind == "action_item" and tracker.restated_action(message, detection.data.get("owner"), text):
                continue  # the owner acknowledging an item already tracked is not a new one
            if detection.kind == "decision":
                target = tracker.reversal_target(message, text, rules.reversal_markers, rules.reversal_min_overlap,
                                                 rules.reversal_max_age_days)
                if target is not None:
                    item, overlap = target
                    detection.data.update(supersedes=item.id, supersedes_text=item.text[:120],
                                          supersedes_overlap=round(overlap, 3))
            insights.append(self._insight(detection.kind, message, detection.confidence,
                                          {"matched": detection.matched, **detection.data}))
        if "question" not in kinds:
            answered = tracker.answered_question(message, rules.answer_window_minutes, rules.answer_min_overlap,
                                                 rules.answer_reply_confidence, rules.answer_nearby_confidence)
            if answered is not None:
                item, confidence, how = answered
                insights.append(self._insight("answer", message, confidence,
                                              {"question_id": item.id, "question": item.text[:120], "how": how}))
        if "action_item" not in kinds and rules.may_complete(candidates):
            completed = tracker.completed_action(message, rules.completion_patterns, rules.completion_min_overlap,
                                                 rules.completion_window_days)
            if completed is not None:
                item, confidence = completed
                insights.append(self._insight("action_done", message, confidence,
                                              {"action_id": item.id, "action": item.text[:120]}))
        self.detections += len(insights)
        return insights

    @staticmethod
    def _insight(kind: str, message: StoredMessage, confidence: float, data: dict[str, Any],
                 text: str | None = None) -> Insight:
        text = " ".join((message.body if text is None else text).split())
        if len(text) > _MAX_TEXT:
            text = text[: _MAX_TEXT - 1].rstrip() + "…"
        return Insight(kind=kind, message_id=message.id, room_id=message.room_id, text=text,
                       confidence=round(confidence, 4), data=data, ts=message.ts)
