"""Entity extraction from chat text: services, hosts, IPs, error codes, HTTP statuses, incidents, URLs, commits, paths, people."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Order matters: earlier kinds claim their span first, later ones skip overlapping matches.
# Every repeat that a later part of a pattern may have to backtrack over is bounded (a DNS label is at
# most 63 characters, a host has at most 10 labels here, a path at most 32 parts, a commit id 40 hex
# digits): each start position then costs a bounded amount of work, so a whole message costs time linear
# in its length (unbounded, `'a.' * 20000` took 42 s). The bounds are far above what real chat holds.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("url", re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.I)),
    ("incident", re.compile(r"\bINC-\d+\b", re.I)),
    # Before hosts, so a Matrix id such as @bob:example.org is one person, not a person and a host.
    ("person", re.compile(r"(?<![\w@])@([a-z][a-z0-9._-]{0,254})(?::[a-z0-9.-]{1,255})?", re.I)),
    ("ip", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?::\d{1,5})?\b")),
    ("host", re.compile(r"\b[a-z][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,9}\.(?:prod|staging|stage|dev|internal|local|lan|corp|com|net|org|io|cloud)\b", re.I)),
    ("file", re.compile(r"(?<![\w/])(?:[\w.-]{1,255}/){1,32}[\w.-]{1,254}\.[a-z0-9]{1,6}(?::\d{1,6})?", re.I)),
    ("commit", re.compile(r"\b(?=[0-9a-f]{0,39}[a-f])(?=[0-9a-f]{0,39}\d)[0-9a-f]{7,40}\b")),
    ("error_code", re.compile(r"\b(?:E[A-Z]{3,}|ORA-\d{5}|ERR_[A-Z_]+|[A-Z][A-Za-z]{1,80}(?:Error|Exception))\b")),
    ("http_status", re.compile(
        r"\b(?:HTTPS?[\s/]*|status\s*(?:code\s*)?)([1-5]\d\d)\b"
        r"|\b([45]\d\d|[45]xx)(?:s\b|\b(?=\s*(?:errors?|responses?|status|codes?|bad|gateway|service|internal|not\b|too\b|unauthori[sz]ed|forbidden|from|on|for|in|at|when|\)|$|,|\.|;|!|\?)))",
        re.I,
    )),
    ("service", re.compile(r"\b[a-z][a-z0-9]{0,62}(?:-[a-z0-9]{1,62}){0,9}-(?:api|svc|service|worker|gateway|db|web|queue|proxy|cache|frontend|backend)\b", re.I)),
]

_DIGIT = re.compile(r"\d")
_HEX_RUN = re.compile(r"[0-9a-f]{7}")
_CAPITAL = re.compile(r"[A-Z]")

# Cheap tests that must pass before a kind's full pattern runs; each is a necessary condition of its
# pattern, so the result is identical with or without them (they only save time on plain chat).
_PREFILTERS: dict[str, Callable[[str, str], bool]] = {
    "url": lambda text, lower: "://" in text,
    "incident": lambda text, lower: "inc-" in lower,
    "ip": lambda text, lower: "." in text and _DIGIT.search(text) is not None,
    "host": lambda text, lower: "." in text,
    "file": lambda text, lower: "/" in text and "." in text,
    "commit": lambda text, lower: _HEX_RUN.search(text) is not None,
    "error_code": lambda text, lower: _CAPITAL.search(text) is not None,
    "http_status": lambda text, lower: _DIGIT.search(text) is not None,
    "service": lambda text, lower: "-" in text,
    "person": lambda text, lower: "@" in text,
}

ENTITY_KINDS: tuple[str, ...] = tuple(kind for kind, _ in _PATTERNS)


@dataclass(frozen=True, slots=True)
class Entity:
    """A typed mention found in text, normalised for use as a graph node key."""

    kind: str
    value: str
    start: int
    end: int

    @property
    def key(self) -> str:
        """A stable node key such as `service:checkout-api`."""
        return f"{self.kind}:{self.value}"


def _normalise(kind: str, match: re.Match[str]) -> str:
    if kind == "http_status":
        return (match.group(1) or match.group(2)).lower()
    if kind == "person":
        return match.group(1).lower().rstrip(".")
    if kind in ("incident",):
        return match.group(0).upper()
    if kind in ("host", "service", "commit"):
        return match.group(0).lower()
    if kind == "url":
        return match.group(0).rstrip(".,;:")
    return match.group(0)


def extract_entities(text: str, people: Iterable[str] = ()) -> list[Entity]:
    """Every entity in `text`, in order of appearance, without overlaps.

    `people` are names of known people (user ids without `@`, first names): a plain mention of
    one ("alice will restart it") is a `person` entity too, not only an `@alice` mention.
    """
    claimed = bytearray(len(text) + 1)  # 1 where an earlier entity sits: overlap checks cost the span, not n
    found: list[Entity] = []
    lower = text.lower()
    for kind, pattern in _PATTERNS:
        if not _PREFILTERS[kind](text, lower):
            continue
        for match in pattern.finditer(text):
            start, end = match.span()
            if claimed.find(1, start, max(end, start + 1)) >= 0:
                continue
            claimed[start:end] = b"\x01" * (end - start)
            found.append(Entity(kind, _normalise(kind, match), start, end))
    for name, start, end in _known_people(lower, people):
        if claimed.find(1, start, max(end, start + 1)) >= 0:
            continue
        claimed[start:end] = b"\x01" * (end - start)
        found.append(Entity("person", name, start, end))
    found.sort(key=lambda entity: entity.start)
    return found


_PEOPLE_PATTERNS: dict[frozenset[str], re.Pattern[str] | None] = {}


def _people_pattern(people: frozenset[str]) -> re.Pattern[str] | None:
    """One regex for all known names (cached per set of names)."""
    pattern = _PEOPLE_PATTERNS.get(people)
    if pattern is None and people not in _PEOPLE_PATTERNS:
        names = sorted({n.lower().lstrip("@").split(":", 1)[0] for n in people} - {""}, key=len, reverse=True)
        names = [n for n in names if len(n) >= 3]
        pattern = re.compile(r"(?<![\w@.-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w-])") if names else None
        if len(_PEOPLE_PATTERNS) > 64:
            _PEOPLE_PATTERNS.clear()
        _PEOPLE_PATTERNS[people] = pattern
    return pattern


def _known_people(lower: str, people: Iterable[str]) -> list[tuple[str, int, int]]:
    """Whole-word, case-insensitive mentions of known people's names in lower-cased text."""
    if not people:
        return []
    pattern = _people_pattern(people if isinstance(people, frozenset) else frozenset(people))
    if pattern is None:
        return []
    return [(match.group(0), match.start(), match.end()) for match in pattern.finditer(lower)]


def entities_of_kind(text: str, kind: str) -> list[str]:
    """The distinct values of one entity kind in `text`, in order."""
    values: list[str] = []
    for entity in extract_entities(text):
        if entity.kind == kind and entity.value not in values:
            values.append(entity.value)
    return values
