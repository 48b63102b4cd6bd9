"""Entity extraction from chat text: services, hosts, IPs, error codes, HTTP statuses, incidents, URLs, commits, paths, people."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Order matters: earlier kinds claim their span first, later ones skip overlapping matches.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("url", re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.I)),
    ("incident", re.compile(r"\bINC-\d+\b", re.I)),
    ("ip", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?::\d{1,5})?\b")),
    ("host", re.compile(r"\b[a-z][a-z0-9-]*\d*(?:\.[a-z0-9-]+)*\.(?:prod|staging|stage|dev|internal|local|lan|corp|com|net|org|io|cloud)\b", re.I)),
    ("file", re.compile(r"(?<![\w/])(?:[\w.-]+/)+[\w.-]+\.[a-z0-9]{1,6}(?::\d+)?", re.I)),
    ("commit", re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b")),
    ("error_code", re.compile(r"\b(?:E[A-Z]{3,}|ORA-\d{5}|ERR_[A-Z_]+|[A-Z][A-Za-z]+(?:Error|Exception))\b")),
    ("http_status", re.compile(
        r"\b(?:HTTPS?[\s/]*|status\s*(?:code\s*)?)([1-5]\d\d)\b"
        r"|\b([45]\d\d|[45]xx)(?:s\b|\b(?=\s*(?:errors?|responses?|status|codes?|bad|gateway|service|internal|not\b|too\b|unauthori[sz]ed|forbidden|from|on|for|in|at|when|\)|$|,|\.|;|!|\?)))",
        re.I,
    )),
    ("service", re.compile(r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)*-(?:api|svc|service|worker|gateway|db|web|queue|proxy|cache|frontend|backend)\b", re.I)),
    ("person", re.compile(r"(?<![\w@])@([a-z][a-z0-9._-]*)(?::[a-z0-9.-]+)?", re.I)),
]


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


def extract_entities(text: str) -> list[Entity]:
    """Every entity in `text`, in order of appearance, without overlaps."""
    claimed: list[tuple[int, int]] = []
    found: list[Entity] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < c_end and end > c_start for c_start, c_end in claimed):
                continue
            claimed.append((start, end))
            found.append(Entity(kind, _normalise(kind, match), start, end))
    found.sort(key=lambda entity: entity.start)
    return found


def entities_of_kind(text: str, kind: str) -> list[str]:
    """The distinct values of one entity kind in `text`, in order."""
    values: list[str] = []
    for entity in extract_entities(text):
        if entity.kind == kind and entity.value not in values:
            values.append(entity.value)
    return values
