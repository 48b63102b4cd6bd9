"""Memory as text: recall results, decisions, action items, questions and extractive summaries.

Chat commands (`!recall`, `!decisions`, ...) and the CLI (`hololoom recall`, ...) both render
through these functions, so the two never disagree.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hololoom_core.memory.items import Item
from hololoom_core.memory.search import RecallFilters, RecallResult
from hololoom_core.models import StoredMessage
from hololoom_core.rooms import RoomScope
from hololoom_core.text.terms import terms
from hololoom_core.text.times import format_time

if TYPE_CHECKING:
    from hololoom_core.memory.service import MemoryService

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FILTER_KEYS = ("room", "from", "thread", "since", "until")


class ViewError(ValueError):
    """A bad argument to a memory view, in one line."""


def parse_when(value: str, now: float) -> float:
    """`30m`, `2h`, `7d`, `1w` (ago), an ISO date or date-time (UTC), or epoch seconds → epoch seconds."""
    value = value.strip()
    match = _DURATION.match(value.lower())
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ViewError(f"'{value}' is not a time: use 30m, 2h, 7d, 1w, 2026-11-25 or 2026-11-25T14:00")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_recall_query(text: str, now: float | None = None) -> tuple[str, RecallFilters]:
    """Split `room:#ops from:alice since:2d the actual query` into the query and its filters."""
    now = time.time() if now is None else now
    filters = RecallFilters()
    rest: list[str] = []
    for token in text.split():
        key, sep, value = token.partition(":")
        if sep and key.lower() in FILTER_KEYS and value:
            key = key.lower()
            if key == "room":
                filters.room_id = value
            elif key == "from":
                filters.sender = value
            elif key == "thread":
                filters.thread_id = value
            elif key == "since":
                filters.since = parse_when(value, now)
            else:
                filters.until = parse_when(value, now)
        else:
            rest.append(token)
    return " ".join(rest), filters


def message_link(room_id: str, event_id: str, message_id: int) -> str:
    """A link to a message: a matrix.to link for Matrix rooms, `msg #id` for simulated ones."""
    if room_id.startswith("!") and event_id.startswith("$"):
        return f"[msg #{message_id}](https://matrix.to/#/{room_id}/{event_id})"
    return f"msg #{message_id}"


def _excerpt(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def recall_text(result: RecallResult, filters: RecallFilters | None = None) -> str:
    """A recall result as Markdown: one cited line per message."""
    scope = []
    if filters is not None:
        for label, value in (("room", filters.room_id), ("from", filters.sender), ("thread", filters.thread_id)):
            if value:
                scope.append(f"{label} {value}")
    degraded = f", degraded from {result.degraded_from}" if result.degraded_from else ""
    head = (f"**Recall** “{_excerpt(result.query, 60)}” — {len(result.hits)} message(s)"
            f"{' in ' + ', '.join(scope) if scope else ''} ({result.mode} mode{degraded}, {result.elapsed_ms:.1f} ms)")
    if not result.hits:
        return head + "\n\nNothing in memory matches that."
    lines = [head, ""]
    for number, hit in enumerate(result.hits, start=1):
        message = hit.message
        lines.append(f"{number}. {format_time(message.ts)} · {message.room_id} · {message.author}: "
                     f"“{_excerpt(message.body)}” ({message_link(message.room_id, message.event_id, message.id)})")
    return "\n".join(lines)


def _item_line(item: Item, extra: str = "") -> str:
    link = message_link(item.room_id, item.event_id, item.message_id)
    return f"- **#{item.id}** {format_time(item.ts)} · {item.author}: “{_excerpt(item.text)}” ({link}){extra}"


def decisions_text(memory: MemoryService, room_id: str, *, limit: int = 10) -> str:
    """The room's decisions, newest first; reversed ones say what reversed them."""
    items = memory.items.list("decision", room_id=room_id, limit=limit)
    if not items:
        return f"No decisions recorded in {room_id} yet."
    lines = [f"**Decisions in {room_id}** ({len(items)} most recent)"]
    for item in items:
        extra = ""
        if item.status == "reversed":
            extra = f" — _reversed by #{item.superseded_by}_" if item.superseded_by else " — _reversed_"
        lines.append(_item_line(item, extra))
    return "\n".join(lines)


def actions_text(memory: MemoryService, room_id: str | None, *, owner: str | None = None,
                 include_done: bool = False, limit: int = 15, scope: RoomScope | None = None) -> str:
    """Open (or all) action items of a room or of an owner (in the rooms of `scope`), with owner and due date."""
    status = None if include_done else "open"
    items = memory.items.list("action_item", room_id=room_id if owner is None else None, status=status,
                              owner=owner, limit=limit, scope=scope)
    where = f"for @{owner}" if owner else f"in {room_id}"
    if not items:
        return f"No {'' if include_done else 'open '}action items {where}."
    lines = [f"**{'Action items' if include_done else 'Open action items'} {where}** ({len(items)})"]
    for item in items:
        details = []
        if item.owner:
            details.append(f"owner @{item.owner}")
        if item.due:
            details.append(f"due {item.due}")
        if item.status != "open":
            details.append(item.status)
        lines.append(_item_line(item, f" — {', '.join(details)}" if details else " — _no owner_"))
    return "\n".join(lines)


def questions_text(memory: MemoryService, room_id: str, *, include_answered: bool = False, limit: int = 15) -> str:
    """Open (or all) questions of a room; answered ones link the answer."""
    items = memory.items.list("question", room_id=room_id, status=None if include_answered else "open",
                              limit=limit)
    if not items:
        return f"No {'' if include_answered else 'open '}questions in {room_id}."
    lines = [f"**{'Questions' if include_answered else 'Open questions'} in {room_id}** ({len(items)})"]
    for item in items:
        extra = ""
        if item.status == "answered" and item.status_message_id:
            extra = f" — answered in msg #{item.status_message_id}"
        lines.append(_item_line(item, extra))
    return "\n".join(lines)


def summarise(messages: list[StoredMessage], items_by_message: dict[int, list[Item]],
              max_points: int = 6) -> list[tuple[StoredMessage, float]]:
    """Pick the messages that best summarise a conversation: items, central terms, the opening message.

    A message scores by how many other messages share its content terms (centrality, with
    log-damped counts), plus a bonus for each decision, action item or question it stated.
    """
    people = [m for m in messages if not m.is_bot and m.body.strip() and not m.body.lstrip().startswith("!")]
    if not people:
        return []
    term_lists = [set(terms(m.body)) for m in people]
    frequency: Counter[str] = Counter(term for ts in term_lists for term in ts)
    bonus = {"decision": 1.2, "action_item": 0.9, "question": 0.5}
    scored: list[tuple[StoredMessage, float]] = []
    for index, (message, message_terms) in enumerate(zip(people, term_lists, strict=True)):
        if message_terms:
            centrality = sum(math.log1p(frequency[t] - 1) for t in message_terms) / math.sqrt(len(message_terms))
        else:
            centrality = 0.0
        score = centrality + sum(bonus.get(item.kind, 0.0) for item in items_by_message.get(message.id, []))
        if index == 0:
            score += 0.8
        if len(message_terms) < 3:
            score *= 0.5
        scored.append((message, score))
    count = min(max_points, max(2, math.ceil(len(people) / 3)))
    chosen = sorted(scored, key=lambda pair: -pair[1])[:count]
    return sorted(chosen, key=lambda pair: pair[0].id)


def summary_text(memory: MemoryService, room_id: str, thread_id: str | None = None, *, limit: int = 200,
                 rooms: RoomScope | None = None) -> str:
    """An extractive summary of a thread (or of the room's recent messages), each point linked to its message;
    a thread's messages outside `rooms` are left out."""
    if thread_id:
        messages = memory.engine.messages.thread(thread_id, limit=limit)
        if rooms is not None:
            messages = [message for message in messages if rooms.allows(message.room_id)]
        scope = f"thread {thread_id}"
    else:
        messages = memory.engine.messages.recent(room_id, limit=limit)
        scope = f"{room_id} (last {len(messages)} messages)"
    if not messages:
        return f"Nothing to summarise in {scope}."
    ids = [m.id for m in messages]
    items_by_message: dict[int, list[Item]] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk: chunk + 500]
        for item in memory.items.by_messages(part):
            items_by_message.setdefault(item.message_id, []).append(item)
    points = summarise(messages, items_by_message)
    if not points:
        return f"Nothing to summarise in {scope} (only bot messages and commands)."
    people = sorted({m.author for m in messages if not m.is_bot})
    first, last = messages[0].ts, messages[-1].ts
    lines = [f"**Summary of {scope}** — {len(messages)} messages, {format_time(first)} to {format_time(last)}; "
             f"{', '.join(people)}", ""]
    for message, _ in points:
        tags = [item.kind.replace("_", " ") for item in items_by_message.get(message.id, [])]
        tag = f" _[{', '.join(tags)}]_" if tags else ""
        lines.append(f"- {message.author}: “{_excerpt(message.body, 180)}” "
                     f"({message_link(message.room_id, message.event_id, message.id)}){tag}")
    all_items = [item for group in items_by_message.values() for item in group]
    open_actions = [i for i in all_items if i.kind == "action_item" and i.status == "open"]
    open_questions = [i for i in all_items if i.kind == "question" and i.status == "open"]
    active = [i for i in all_items if i.kind == "decision" and i.status == "active"]
    if active or open_actions or open_questions:
        lines.append("")
        lines.append(f"Decisions in force: {len(active)} · open action items: {len(open_actions)} · "
                     f"open questions: {len(open_questions)}")
    return "\n".join(lines)
