"""Redaction on the way out: the secret redactor (`hololoom_core.redact`) again, then personal data.

Messages were redacted when they were stored; rules improve and answers quote retrieved text, so every
text that leaves in an export or a documentation page passes both again. What was replaced is logged as
(record, field, kind, count), never the value.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from hololoom_core.learning.pii import PiiRedactor
from hololoom_core.redact import redact_secrets

_MARKER = re.compile(r"\[REDACTED:([a-z0-9_-]+)\]", re.I)
# A value assigned to a key whose name contains a credential word (`db_password=`, `STRIPE_API_KEY: ...`):
# the shared redactor matches the bare words; on the way out the compound names are caught too.
_KEYED_SECRET = re.compile(
    r"(?i)(\b[\w.-]{0,40}(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|private[_-]?key)"
    r"[\w.-]{0,40}[\"']?\s{0,3}[=:]\s{0,3}[\"']?)(?!\[REDACTED)([^\s\"',;]{4,200})"
)


@dataclass(slots=True)
class RedactionEntry:
    """One redaction log line: which record and field, what kind of value, how many were replaced."""

    record: str
    field: str
    kind: str
    count: int

    def as_dict(self) -> dict[str, object]:
        """Plain data for the JSONL log."""
        return {"record": self.record, "field": self.field, "kind": self.kind, "count": self.count}


@dataclass(slots=True)
class RedactionLog:
    """Every redaction of one export or docs run."""

    entries: list[RedactionEntry] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """Replacements per kind."""
        totals: Counter[str] = Counter()
        for entry in self.entries:
            totals[entry.kind] += entry.count
        return dict(sorted(totals.items()))

    def records(self) -> int:
        """How many records had at least one replacement."""
        return len({entry.record for entry in self.entries})


_CREDENTIAL_WORDS = ("password", "passwd", "pwd", "secret", "key", "token")
_REFERENCE_KEYS = ("name", "path", "file", "ref", "length", "rotation", "ttl")


def _keyed_secret(match: re.Match[str]) -> str:
    """Replace the value unless the key only names or points at a secret (`secretName:`, `password_file=`)."""
    key = match.group(1).lower()
    if any(word in key for word in _REFERENCE_KEYS):
        return match.group(0)
    return f"{match.group(1)}[REDACTED:credential]"


class OutboundCleaner:
    """Cleans text for export: secrets (the shared redactor) and then personal data (`PiiRedactor`)."""

    def __init__(self, *, members: Iterable[str] = (), ips: bool = True) -> None:
        self.pii = PiiRedactor(members=members, ips=ips)

    def clean(self, text: str) -> tuple[str, Counter[str]]:
        """The cleaned text and the replacements made, per kind (markers already present are not counted)."""
        before = Counter(match.lower() for match in _MARKER.findall(text))
        secret_free = redact_secrets(text).text
        lowered = secret_free.lower()
        if any(word in lowered for word in _CREDENTIAL_WORDS):
            secret_free = _KEYED_SECRET.sub(_keyed_secret, secret_free)
        cleaned, _pii_counts = self.pii.redact(secret_free)
        after = Counter(match.lower() for match in _MARKER.findall(cleaned))
        counts: Counter[str] = Counter()
        for kind, number in after.items():
            added = number - before.get(kind, 0)
            if added > 0:
                counts[kind] = added
        return cleaned, counts

    def clean_field(self, text: str, record: str, field_name: str, log: RedactionLog) -> tuple[str, list[str]]:
        """Clean one field of one record, adding its replacements to `log`; returns the text and the kinds."""
        cleaned, counts = self.clean(text)
        for kind, number in sorted(counts.items()):
            log.entries.append(RedactionEntry(record, field_name, kind, number))
        return cleaned, sorted(counts)
