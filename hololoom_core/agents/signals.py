"""Cheap signals that point at one agent whatever the words say: a diff, a CVE id, a key, an INC id, an alert.

Each signal names the agent it supports and a short label for the decision's reason; the label never
repeats the matched text (a key pattern must not be echoed into logs or chat).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Signal:
    """One cheap signal: the agent it points at and a label for the reason line."""

    agent: str
    label: str


_SIGNALS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("code_review", "code block", re.compile(r"```|~~~")),
    ("code_review", "diff", re.compile(r"^diff --git |^@@ [-+]\d|^(?:---|\+\+\+) [ab]/", re.M)),
    ("code_review", "code", re.compile(r"\b(?:def|func|fn|class|return|import)\s+\w+\s*[(:=]|=>\s*\{|\w+\([^()\n]{0,80}\)\s*[{;]")),
    ("security", "CVE id", re.compile(r"\bCVE-\d{4}-\d{4,7}\b", re.I)),
    ("security", "key pattern", re.compile(
        r"\bAKIA[0-9A-Z]{0,16}\b|\bgh[pousr]_[A-Za-z0-9]{8,}|\bxox[abpr]-[A-Za-z0-9-]{6,}|-----BEGIN [A-Z ]*PRIVATE KEY"
        r"|\bsk_live_[A-Za-z0-9]{6,}|\bAIza[0-9A-Za-z_-]{10,}")),
    ("incident", "INC id", re.compile(r"\bINC-?\d{2,}\b", re.I)),
    ("incident", "alert text", re.compile(
        r"\[FIRING(?::\d+)?\]|\bALERT(?:NAME)?\s*:|\balertmanager\b|\bpagerduty\b|\bsev ?[12]\b|\bpaged?\b", re.I)),
)


def find_signals(text: str) -> list[Signal]:
    """The signals present in a question, at most one per label, in a fixed order."""
    return [Signal(agent, label) for agent, label, pattern in _SIGNALS if pattern.search(text)]
