"""Personal data patterns for the way out: e-mail addresses, phone numbers, IP addresses and member names.

Pattern recognisers in the manner of Presidio's offline ones: bounded regular expressions (linear time on
long input), with a validation step where a pattern alone is too loose (an IPv6 candidate must parse, a
phone number must have 8 to 15 digits). Each match becomes `[REDACTED:kind]`, the marker the secret
redactor uses, so one log counts both.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable

import ahocorasick

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}"
                   r"[A-Za-z]{2,24}\b")
PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])")
PHONE_NORTH_AMERICA = re.compile(r"(?<![\w.:/-])(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w.:/-])")
IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                  r"(?![\w.]*\d)")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")

# Addresses that say nothing about anyone: loopback, "any" and the well-known public DNS resolvers.
_HARMLESS_IPS = {"127.0.0.1", "0.0.0.0", "::1", "::", "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9",
                 "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111"}
# Words too common to redact even when someone chose them as a display name.
_COMMON_WORDS = frozenset({
    "admin", "bot", "ops", "oncall", "team", "user", "root", "test", "system", "operator", "the", "and", "you",
    "all", "here", "room", "someone", "anyone",
})


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _phone_ok(match: re.Match[str]) -> bool:
    return 8 <= _digits(match.group(0)) <= 15


def _ipv4_ok(match: re.Match[str]) -> bool:
    return match.group(0) not in _HARMLESS_IPS


def _ipv6_ok(match: re.Match[str]) -> bool:
    text = match.group(0)
    if len(text) < 6 or ("::" not in text and text.count(":") != 7):
        return False  # clock times (12:30:45) and ratios are not addresses
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return text not in _HARMLESS_IPS


Validator = Callable[[re.Match[str]], bool]
Prefilter = Callable[[str], bool]

# Cheap necessary conditions of each pattern: most text fails them and skips the full pattern.
_HAS_AT: Prefilter = lambda text: "@" in text  # noqa: E731
_HAS_PLUS_DIGIT = re.compile(r"\+[1-9]").search
_HAS_NANP = re.compile(r"\d{3}[ .)-]\s?\d{3}").search
_HAS_DOTTED_QUAD = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d").search
_HAS_IPV6 = re.compile(r"[0-9A-Fa-f]::|::[0-9A-Fa-f]|(?:[0-9A-Fa-f]{1,4}:){7}").search


class PiiRedactor:
    """Replaces personal data in text by `[REDACTED:kind]` and counts what it replaced.

    Kinds: `email`, `phone`, `ip` (when `ips`), `member-name` (the display names and ids in `members`).
    """

    def __init__(self, *, members: Iterable[str] = (), ips: bool = True) -> None:
        rules: list[tuple[str, re.Pattern[str], Validator | None, Prefilter]] = [
            ("email", EMAIL, None, _HAS_AT),
            ("phone", PHONE_INTERNATIONAL, _phone_ok, lambda text: _HAS_PLUS_DIGIT(text) is not None),
            ("phone", PHONE_NORTH_AMERICA, _phone_ok, lambda text: _HAS_NANP(text) is not None),
        ]
        if ips:
            rules += [("ip", IPV4, _ipv4_ok, lambda text: _HAS_DOTTED_QUAD(text) is not None),
                      ("ip", IPV6, _ipv6_ok, lambda text: _HAS_IPV6(text) is not None)]
        names = sorted({name.strip() for name in members if _worth_redacting(name)}, key=len, reverse=True)
        if names:
            alternatives = "|".join(re.escape(name) for name in names)
            pattern = re.compile(rf"(?<![\w@])@?(?:{alternatives})(?![\w-])", re.I)
            automaton = ahocorasick.Automaton()
            for name in names:
                lowered = name.lower().lstrip("@")
                automaton.add_word(lowered, lowered)
            automaton.make_automaton()

            def has_name(text: str) -> bool:
                for _found in automaton.iter(text.lower()):
                    return True
                return False

            rules.append(("member-name", pattern, None, has_name))
        self.rules = rules

    def redact(self, text: str) -> tuple[str, Counter[str]]:
        """The text with personal data replaced, and how many of each kind were replaced."""
        counts: Counter[str] = Counter()
        for kind, pattern, validate, prefilter in self.rules:
            if not prefilter(text):
                continue

            def replace(match: re.Match[str], kind: str = kind, validate: Validator | None = validate) -> str:
                if validate is not None and not validate(match):
                    return match.group(0)
                counts[kind] += 1
                return f"[REDACTED:{kind}]"

            text = pattern.sub(replace, text)
        return text, counts


def _worth_redacting(name: str) -> bool:
    """Names of three or more characters that are not common words (a member called "ops" stays)."""
    stripped = name.strip().lstrip("@")
    return len(stripped) >= 3 and stripped.lower() not in _COMMON_WORDS and not stripped.isdigit()
