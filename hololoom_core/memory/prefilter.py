"""Literal prefilters for regexes: strings one of which must occur in any text the regex matches.

Detector patterns are data (the pattern file), so they cannot be hand-optimised. Instead each
compiled pattern gets a prefilter derived from its parse tree: if none of the required strings
occurs in the (lower-cased, ASCII) text, the regex cannot match and is not run. This keeps the
results identical while skipping most regex scans on ordinary chat.

`GateScanner` checks every pattern of a room in one pass: an Aho-Corasick automaton
(pyahocorasick) over all the required strings finds, with overlaps, every one that occurs in the
text, and so which patterns may match, instead of one gate search per pattern.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from re import _constants as sre_constants  # type: ignore[attr-defined]  # private, stable since 3.11
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import ahocorasick

_LITERAL = sre_constants.LITERAL
_SUBPATTERN = sre_constants.SUBPATTERN
_BRANCH = sre_constants.BRANCH
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)
_POSSESSIVE = getattr(sre_constants, "POSSESSIVE_REPEAT", None)
_ATOMIC = getattr(sre_constants, "ATOMIC_GROUP", None)
_MAX_ALTERNATIVES = 64


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    """The most selective requirement: longest shortest-string, then fewest alternatives."""
    if not candidates:
        return None
    return max(candidates, key=lambda options: (min(len(s) for s in options), -len(options)))


def _required(items: Any) -> frozenset[str] | None:
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            candidates.append(frozenset({"".join(run).lower()}))
            run.clear()

    for op, value in items:
        if op is _LITERAL:
            run.append(chr(value))
            continue
        close_run()
        found: frozenset[str] | None = None
        if op is _SUBPATTERN:
            found = _required(value[-1])
        elif _ATOMIC is not None and op is _ATOMIC:
            found = _required(value)
        elif op is _BRANCH:
            union: set[str] = set()
            for branch in value[1]:
                options = _required(branch)
                if options is None:
                    union = set()
                    break
                union |= options
            if union and len(union) <= _MAX_ALTERNATIVES:
                found = frozenset(union)
        elif op in _REPEATS or (_POSSESSIVE is not None and op is _POSSESSIVE):
            low, _, sub = value
            if low >= 1:
                found = _required(sub)
        if found:
            candidates.append(found)
    close_run()
    return _best(candidates)


def required_substrings(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Strings (lower-case) one of which any match of `pattern` contains; None if none can be derived."""
    if not pattern.flags & re.IGNORECASE:
        return None  # case-sensitive patterns would need case-preserving checks; keep them unfiltered
    try:
        parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    except Exception:
        return None
    options = _required(list(parsed))
    if not options or any(not s for s in options):
        return None
    return options


def gate_regex(options: frozenset[str] | None) -> re.Pattern[str] | None:
    """One regex finding any of the required strings (a single C-level scan of the lower-cased text)."""
    if options is None:
        return None
    return re.compile("|".join(re.escape(option) for option in sorted(options, key=len, reverse=True)))


def may_match(gate: re.Pattern[str] | None, lower: str, ascii_text: bool) -> bool:
    """False only when the pattern certainly cannot match the text (`lower` is the lower-cased text)."""
    if gate is None or not ascii_text:
        return True  # Unicode case folding (e.g. 'ſ' ~ 's') is beyond a lower-case substring test
    return gate.search(lower) is not None


class GateScanner:
    """Which of many gated patterns may match a text, found in one pass over the lower-cased text.

    Pattern `i` of the list given to the constructor is bit `1 << i` of the masks it returns; a
    pattern without a gate (None) is always a candidate, as with `may_match`.
    """

    def __init__(self, gates: Sequence[frozenset[str] | None]) -> None:
        self.size = len(gates)
        self.everything = (1 << self.size) - 1
        self.ungated = 0
        masks: dict[str, int] = {}
        for index, options in enumerate(gates):
            if options is None:
                self.ungated |= 1 << index
                continue
            for option in options:
                masks[option] = masks.get(option, 0) | (1 << index)
        self._automaton: Any = None
        if masks:
            automaton = ahocorasick.Automaton()
            for option, mask in masks.items():
                automaton.add_word(option, mask)
            automaton.make_automaton()
            self._automaton = automaton

    def candidates(self, lower: str, ascii_text: bool) -> int:
        """The bit mask of the patterns that may match (`lower` is the lower-cased text)."""
        if not ascii_text:
            return self.everything  # Unicode case folding is beyond a lower-case substring test
        mask = self.ungated
        if self._automaton is not None:
            for _, found in self._automaton.iter(lower):
                mask |= found
        return mask
