"""Secret redaction applied before anything is stored: keys, tokens, passwords and private keys."""

from __future__ import annotations

import re
from typing import NamedTuple

import ahocorasick

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("private-key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("aws-secret-key", re.compile(r"(?i)(aws_secret_access_key\s*[=:]\s*)([A-Za-z0-9/+=]{40})")),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b")),
    ("bearer-token", re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/-]{20,}=*)")),
    ("matrix-token", re.compile(r"\bsyt_[A-Za-z0-9_]{10,}\b")),
    ("url-password", re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)", re.I)),
    (
        "password",
        re.compile(
            r"(?i)(\b(?:password|passwd|pwd|secret|api[_-]?key|token|access[_-]?key)\b[\"']?\s*[=:]\s*[\"']?)"
            r"([^\s\"',;]{4,})"
        ),
    ),
]


# One Aho-Corasick pass over the lower-cased text finds every text some rule could match (a literal each
# rule needs); most chat has none, and is then returned untouched without running the ten rules. Lower
# case can only add candidates (which the rules then reject), never lose one.
_CANDIDATE_LITERALS = (
    "private key", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xoxa-", "xoxb-",
    "xoxp-", "xoxr-", "xoxs-", "eyj", "syt_", "://", "aws_secret", "bearer", "passw", "pwd", "secret",
    "api_key", "api-key", "apikey", "token", "access_key", "access-key", "accesskey",
)
_CANDIDATES = ahocorasick.Automaton()
for _literal in _CANDIDATE_LITERALS:
    _CANDIDATES.add_word(_literal, _literal)
_CANDIDATES.make_automaton()


def may_have_secret(text: str) -> bool:
    """True when some redaction rule could match `text` (one C pass; False for most chat)."""
    for _found in _CANDIDATES.iter(text.lower()):
        return True
    return False


class RedactionResult(NamedTuple):
    """Redacted text and the kinds of secret that were removed."""

    text: str
    kinds: tuple[str, ...]


def redact_secrets(text: str) -> RedactionResult:
    """Replace secrets in `text` by `[REDACTED:kind]`, keeping labels like `password=` readable."""
    if not may_have_secret(text):
        return RedactionResult(text, ())
    kinds: list[str] = []

    for kind, pattern in _RULES:

        def replace(match: re.Match[str], kind: str = kind) -> str:
            kinds.append(kind)
            groups = match.groups()
            if len(groups) >= 2:
                tail = groups[2] if len(groups) >= 3 else ""
                return f"{groups[0]}[REDACTED:{kind}]{tail}"
            return f"[REDACTED:{kind}]"

        text = pattern.sub(replace, text)
    return RedactionResult(text, tuple(dict.fromkeys(kinds)))
