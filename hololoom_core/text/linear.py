"""Regular expressions that run in time linear in the text: RE2 (google-re2), for patterns run on chat text."""

from __future__ import annotations

import functools
from typing import Any

import re2

from hololoom_core.text.clean import clean_text

LinearRegexError = re2.error


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a pattern RE2 refuses is reported by the caller, not logged on stderr
    options.max_mem = 64 << 20
    return options


_OPTIONS = _options()


def compile_linear(pattern: str, *, ignore_case: bool = False) -> Any:
    """`pattern` compiled with RE2; `LinearRegexError` when RE2 cannot express it (backreferences, lookarounds)."""
    return re2.compile(("(?i)" if ignore_case else "") + pattern, _OPTIONS)


@functools.lru_cache(maxsize=256)
def cached_linear(pattern: str, ignore_case: bool = False) -> Any:
    """`compile_linear` with a cache, for patterns that come from configuration or workflow files."""
    return compile_linear(pattern, ignore_case=ignore_case)


def linear_search(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """True when `pattern` (RE2 syntax) matches somewhere in `text`; linear time whatever the pattern."""
    return cached_linear(pattern, ignore_case).search(clean_text(text)) is not None
