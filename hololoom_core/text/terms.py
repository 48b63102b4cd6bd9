"""Tokenising text for matching: lower-case words and numbers, stop words removed, light stemming."""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[a-z0-9][a-z0-9_]*")

STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
    now of off on once only or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves hololoom bot
    please pls thanks thank hi hey hello ok okay also get got getting anyone someone something anything still
    going just like know think see look looking want need needs let lets us i'm it's we're what's
    """.split()
)


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A light suffix-stripping stemmer, enough to match 'errors'/'error' and 'failing'/'fail'."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix in ("ings", "ing", "edly", "ed", "ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix == "ies":
                return base + "y"
            if suffix == "es" and not base.endswith(("s", "x", "ch", "sh")):
                return base + "e" if base.endswith(("at", "ag", "ut", "ir")) else base
            return base
    return word


def words(text: str) -> list[str]:
    """Lower-case word tokens of `text`, stop words kept."""
    return _WORD.findall(text.lower())


def terms(text: str) -> list[str]:
    """Content terms of `text`: lower-case, stop words removed, stemmed; order kept, duplicates kept."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]


def term_set(text: str) -> frozenset[str]:
    """The distinct content terms of `text`."""
    return frozenset(terms(text))
