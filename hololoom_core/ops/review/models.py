"""The data a code review passes around: what is reviewed, what was found, and the finished report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(slots=True)
class ReviewItem:
    """One thing to review: a snippet, an uploaded file or a unified diff, with its display name."""

    name: str
    text: str
    language: str

    @property
    def is_diff(self) -> bool:
        """True when the item is a unified diff (only its changed lines are reviewed)."""
        return self.language == "diff"


@dataclass(slots=True)
class Finding:
    """One problem: where it is, which tool and rule found it, how bad it is, and a one-line fix hint."""

    tool: str
    rule: str
    severity: str
    path: str
    line: int
    message: str
    hint: str
    confidence: str | None = None
    url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for `hololoom review --json`."""
        return {
            "tool": self.tool,
            "rule": self.rule,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "hint": self.hint,
            "confidence": self.confidence,
            "url": self.url,
        }


@dataclass(slots=True)
class ReviewReport:
    """The result of one review: findings (secrets already masked), notes, tools run, optional summary."""

    files: list[str]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    lines_reviewed: int = 0
    changed_lines_only: bool = False
    summary: str | None = None
    summary_provider: str | None = None

    @property
    def clean(self) -> bool:
        """True when no tool found anything."""
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Number of findings per severity, in severity order."""
        counts = {severity: 0 for severity in SEVERITIES}
        for finding in self.findings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape printed by `hololoom review --json`."""
        return {
            "files": list(self.files),
            "clean": self.clean,
            "counts": self.counts(),
            "findings": [finding.as_dict() for finding in self.findings],
            "notes": list(self.notes),
            "tools": list(self.tools),
            "lines_reviewed": self.lines_reviewed,
            "changed_lines_only": self.changed_lines_only,
            "summary": self.summary,
            "summary_provider": self.summary_provider,
        }
