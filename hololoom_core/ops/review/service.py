"""The code reviewer: prepares snippets, files and diffs, runs the analysers, filters, masks and summarises."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from hololoom_core.answers.ultraprompt import parse_sections
from hololoom_core.config import ReviewConfig
from hololoom_core.llm.base import AnswerRequest, LanguageProvider
from hololoom_core.models import Source
from hololoom_core.ops.review.analyzers import (
    ToolError,
    mask_secret,
    run_bandit,
    run_detect_secrets,
    run_ruff,
)
from hololoom_core.ops.review.diff import DiffFile, parse_unified_diff, python_parses
from hololoom_core.ops.review.models import SEVERITY_RANK, Finding, ReviewItem, ReviewReport
from hololoom_core.redact import redact_secrets

# Rules that need the whole file to be right; a diff shows only hunks, so they are noise there.
DIFF_CONTEXT_RULES = {"F401", "F811", "F821", "F822", "F841", "F842", "I001", "W292", "W391", "E402"}
_BANDIT_QUOTED_VALUE = re.compile(r"'([^']*)'")
_BANDIT_SECRET_TESTS = {"B105", "B106", "B107"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(slots=True)
class _Unit:
    """A piece of text to analyse, with the display path and the lines whose findings count."""

    display: str
    text: str
    python: bool
    secrets: bool
    lines: set[int] | None


class CodeReviewer:
    """Reviews code with bandit, ruff and detect-secrets; adds a language-model summary when one is configured."""

    def __init__(self, config: ReviewConfig, provider: LanguageProvider | None = None) -> None:
        self.config = config
        self.provider = provider

    async def review(self, items: list[ReviewItem]) -> ReviewReport:
        """Review every item; findings come back sorted by severity, with secrets masked."""
        units, report = self._prepare(items)
        with tempfile.TemporaryDirectory(prefix="hololoom-review-") as tmp:
            workdir = Path(tmp).resolve()
            python_files: dict[Path, str] = {}
            secret_files: dict[Path, str] = {}
            unit_by_path: dict[Path, _Unit] = {}
            for number, unit in enumerate(units, start=1):
                base = _SAFE_NAME.sub("_", Path(unit.display).name) or "snippet"
                if unit.python and not base.endswith((".py", ".pyi")):
                    base += ".py"
                path = workdir / f"{number:03d}-{base}"
                path.write_text(unit.text, encoding="utf-8")
                unit_by_path[path] = unit
                if unit.python:
                    python_files[path] = unit.display
                if unit.secrets:
                    secret_files[path] = unit.display
            findings, secret_values = await self._analyse(python_files, secret_files, workdir, report)
        allowed = {(unit.display, line) for unit in units if unit.lines is not None for line in unit.lines}
        filtered_paths = {unit.display for unit in units if unit.lines is not None}
        kept: dict[tuple[str, int, str], Finding] = {}
        for finding in findings:
            if finding.path in filtered_paths:
                if (finding.path, finding.line) not in allowed or finding.rule in DIFF_CONTEXT_RULES:
                    continue
            if finding.tool == "bandit" and SEVERITY_RANK.get(finding.severity, 3) > SEVERITY_RANK[
                self.config.bandit_min_severity
            ]:
                continue
            kept.setdefault((finding.path, finding.line, finding.rule), finding)
        report.findings = sorted(
            (self._mask(finding, secret_values) for finding in kept.values()),
            key=lambda f: (SEVERITY_RANK.get(f.severity, 9), f.path, f.line, f.rule),
        )
        for note_index, note in enumerate(report.notes):
            report.notes[note_index] = _mask_values(note, secret_values)
        if self.config.llm_summary and self.provider is not None and self.provider.is_language_model:
            await self._summarise(report, items, secret_values)
        return report

    # -- preparing -------------------------------------------------------------------------

    def _prepare(self, items: list[ReviewItem]) -> tuple[list[_Unit], ReviewReport]:
        units: list[_Unit] = []
        report = ReviewReport(files=[])
        for item in items:
            if item.is_diff:
                report.changed_lines_only = True
                diff_files = parse_unified_diff(item.text, default_name=item.name.removesuffix(".diff"))
                if not diff_files:
                    report.notes.append(f"`{item.name}` has no added lines to review")
                for diff_file in diff_files:
                    report.files.append(diff_file.path)
                    report.lines_reviewed += len(diff_file.added)
                    units.extend(self._diff_units(diff_file.path, diff_file, report))
            else:
                report.files.append(item.name)
                report.lines_reviewed += len(item.text.splitlines())
                python = item.language == "python"
                if not python:
                    report.notes.append(
                        f"`{item.name}` ({item.language}) was scanned for secrets only; bandit and ruff analyse Python"
                    )
                text = item.text if item.text.endswith("\n") else item.text + "\n"
                units.append(_Unit(item.name, text, python, True, None))
        report.tools = self._tools_for(units)
        return units, report

    def _diff_units(self, path: str, diff_file: DiffFile, report: ReviewReport) -> list[_Unit]:
        """Units for one file of a diff: the rebuilt new side, or each hunk alone when that does not parse."""
        new_text = diff_file.new_text()
        added = set(diff_file.added)
        if not diff_file.is_python:
            return [_Unit(path, new_text, False, True, added)]
        if python_parses(new_text):
            return [_Unit(path, new_text, True, True, added)]
        units = [_Unit(path, new_text, False, True, added)]
        for start, hunk_text in diff_file.hunk_texts():
            if python_parses(hunk_text):
                units.append(_Unit(path, hunk_text, True, False, added))
            else:
                report.notes.append(
                    f"`{path}` hunk at line {start} is not valid Python on its own; bandit and ruff skipped it "
                    "(secrets were still scanned)"
                )
        return units

    def _tools_for(self, units: list[_Unit]) -> list[str]:
        tools = []
        if any(unit.python for unit in units):
            if self.config.bandit:
                tools.append("bandit")
            if self.config.ruff:
                tools.append("ruff")
        if self.config.detect_secrets and any(unit.secrets for unit in units):
            tools.append("detect-secrets")
        return tools

    # -- analysing -------------------------------------------------------------------------

    async def _analyse(
        self, python_files: dict[Path, str], secret_files: dict[Path, str], workdir: Path, report: ReviewReport
    ) -> tuple[list[Finding], list[str]]:
        # Every job yields (findings, extra): bandit's extra is notes, detect-secrets' the secret values.
        jobs: list[Awaitable[tuple[list[Finding], list[str]]]] = []
        names: list[str] = []
        if python_files and self.config.bandit:
            jobs.append(run_bandit(python_files, workdir, skip=self.config.bandit_skip, timeout_s=self.config.timeout_s))
            names.append("bandit")
        if python_files and self.config.ruff:
            jobs.append(self._ruff_job(python_files, workdir))
            names.append("ruff")
        if secret_files and self.config.detect_secrets:
            jobs.append(run_detect_secrets(secret_files))
            names.append("detect-secrets")
        results = await asyncio.gather(*jobs, return_exceptions=True)
        findings: list[Finding] = []
        secret_values: list[str] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, ToolError):
                report.notes.append(str(result))
                report.tools.remove(name)
            elif isinstance(result, BaseException):
                report.notes.append(f"{name} failed ({type(result).__name__}: {result})")
                report.tools.remove(name)
            else:
                found, extra = result
                findings.extend(found)
                if name == "bandit":
                    report.notes.extend(extra)
                elif name == "detect-secrets":
                    secret_values.extend(extra)
        return findings, secret_values

    async def _ruff_job(self, python_files: dict[Path, str], workdir: Path) -> tuple[list[Finding], list[str]]:
        """ruff's findings, shaped like the other analysers' results (ruff has no notes)."""
        found = await run_ruff(python_files, workdir, select=self.config.ruff_select,
                               target_version=self.config.ruff_target_version, timeout_s=self.config.timeout_s)
        return found, []

    @staticmethod
    def _mask(finding: Finding, secret_values: list[str]) -> Finding:
        """Never echo a secret: mask quoted bandit values, redact known kinds, mask every detected value."""
        message = finding.message
        if finding.tool == "bandit" and finding.rule in _BANDIT_SECRET_TESTS:
            message = _BANDIT_QUOTED_VALUE.sub(lambda m: f"`{mask_secret(m.group(1))}`", message)
        elif finding.tool != "detect-secrets":
            message = redact_secrets(message).text
        finding.message = _mask_values(message, secret_values)
        return finding

    # -- summarising -----------------------------------------------------------------------

    async def _summarise(self, report: ReviewReport, items: list[ReviewItem], secret_values: list[str]) -> None:
        """Ask the configured language model for a short summary; a failure becomes a note, never an error."""
        assert self.provider is not None
        listing = "\n".join(
            f"- {f.severity} {f.path}:{f.line} {f.rule}: {f.message}" for f in report.findings[:40]
        ) or "- no findings"
        code = "\n\n".join(
            f"# {item.name}\n{_mask_values(redact_secrets(item.text).text, secret_values)}" for item in items
        )[: self.config.summary_code_chars]
        request = AnswerRequest(
            question=(
                "Summarise this automated code review for the author in two to four sentences: the most "
                "important problems first, what to fix before merging, and whether the rest is minor."
            ),
            sources=[
                Source(kind="review", ref="findings", title="analyser findings", excerpt=listing, score=1.0),
                Source(kind="code", ref="code", title="reviewed code (secrets masked)", excerpt=code, score=1.0),
            ],
            agent="code-reviewer",
            agent_brief="A senior engineer summarising static-analysis results.",
            instructions="Answer in plain prose; do not repeat every finding; never print secret values.",
        )
        try:
            text = await asyncio.wait_for(self.provider.answer(request), self.config.summary_timeout_s)
        except Exception as exc:  # an unreachable model must not lose the findings
            report.notes.append(f"no summary: {self.provider.name} failed ({type(exc).__name__}: {exc})"[:300])
            return
        sections = parse_sections(text)
        summary = (sections.get("ANSWER") or sections.get("TL;DR") or text).strip()
        summary = _mask_values(redact_secrets(summary).text, secret_values)
        if summary:
            report.summary = summary[:1200]
            report.summary_provider = self.provider.name


def _mask_values(text: str, secret_values: list[str]) -> str:
    for value in sorted(set(secret_values), key=len, reverse=True):
        if len(value) >= 4 and value in text:
            text = text.replace(value, mask_secret(value))
    return text
