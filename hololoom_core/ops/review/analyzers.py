"""The three analysers: bandit and ruff as subprocesses, detect-secrets in a worker thread.

Each takes files already written to a temporary directory and returns findings keyed back to the
display path the person knows. Nothing here runs on the event loop's thread for long: the
subprocesses are awaited, and detect-secrets runs through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hololoom_core.ops.review.hints import SECRET_HINT, bandit_hint, ruff_hint, ruff_severity
from hololoom_core.ops.review.models import Finding
from hololoom_core.subprocesses import ProgramError, run_program

_SECRETS_LOCK = threading.Lock()  # detect-secrets keeps its settings in module globals


class ToolError(Exception):
    """An analyser could not run (missing, timed out, unreadable output); one line for the report's notes."""


@dataclass(slots=True)
class SecretHit:
    """A secret detect-secrets found: where, what kind, and the value (kept only to mask it)."""

    file: Path
    line: int
    kind: str
    value: str


def tool_command(module: str) -> list[str] | None:
    """How to run a Python tool: `python -m tool` when importable here, else the executable on PATH."""
    if importlib.util.find_spec(module) is not None:
        return [sys.executable, "-m", module]
    found = shutil.which(module)
    return [found] if found else None


async def run_tool(name: str, argv: list[str], cwd: Path, timeout_s: float) -> str:
    """Run one analyser and return its stdout; raise `ToolError` when it cannot run or hangs."""
    try:
        result = await run_program(argv, timeout_s, cwd=cwd)
    except ProgramError as exc:
        raise ToolError(f"{name} {exc}")
    if not result.stdout.strip() and result.returncode not in (0, 1):
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ToolError(f"{name} failed (exit {result.returncode}: {detail[-1] if detail else 'no output'})")
    return result.stdout.decode("utf-8", "replace")


def _parse_json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(f"{name} printed output that is not JSON ({exc.msg} at character {exc.pos})")


async def run_bandit(
    files: dict[Path, str], workdir: Path, *, skip: list[str], timeout_s: float
) -> tuple[list[Finding], list[str]]:
    """Security findings from bandit for the Python files (path on disk -> display path), plus notes."""
    command = tool_command("bandit")
    if command is None:
        raise ToolError("bandit is not installed (pip install bandit)")
    argv = [*command, "-f", "json", "-q"]
    if skip:
        argv += ["--skip", ",".join(skip)]
    argv += [str(path) for path in files]
    data = _parse_json("bandit", await run_tool("bandit", argv, workdir, timeout_s))
    by_name = {str(path): display for path, display in files.items()}
    findings: list[Finding] = []
    for result in data.get("results", []):
        display = by_name.get(str(Path(workdir, result.get("filename", "")).resolve()), by_name.get(
            result.get("filename", ""), result.get("filename", "?")))
        findings.append(
            Finding(
                tool="bandit",
                rule=str(result.get("test_id", "B?")),
                severity=str(result.get("issue_severity", "LOW")).lower(),
                path=display,
                line=int(result.get("line_number") or 0),
                message=str(result.get("issue_text", "")).strip(),
                hint=bandit_hint(str(result.get("test_id", "")), str(result.get("test_name", ""))),
                confidence=str(result.get("issue_confidence", "")).lower() or None,
                url=result.get("more_info"),
            )
        )
    notes = []
    for error in data.get("errors", []):
        name = by_name.get(str(Path(workdir, error.get("filename", "")).resolve()), error.get("filename", "?"))
        notes.append(f"bandit skipped `{name}`: {error.get('reason', 'unknown error')}")
    return findings, notes


async def run_ruff(
    files: dict[Path, str], workdir: Path, *, select: list[str], target_version: str, timeout_s: float
) -> list[Finding]:
    """Correctness and style findings from ruff (isolated from any project config) for the Python files."""
    command = tool_command("ruff")
    if command is None:
        raise ToolError("ruff is not installed (pip install ruff)")
    argv = [*command, "check", "--output-format", "json", "--no-cache", "--isolated", "--exit-zero",
            "--target-version", target_version, "--select", ",".join(select), *[str(path) for path in files]]
    data = _parse_json("ruff", await run_tool("ruff", argv, workdir, timeout_s))
    by_name = {str(path): display for path, display in files.items()}
    findings: list[Finding] = []
    for result in data:
        code = str(result.get("code") or "invalid-syntax")
        fix = result.get("fix") or {}
        findings.append(
            Finding(
                tool="ruff",
                rule=code,
                severity=ruff_severity(code),
                path=by_name.get(str(Path(result.get("filename", "")).resolve()), result.get("filename", "?")),
                line=int((result.get("location") or {}).get("row") or 0),
                message=str(result.get("message", "")).strip(),
                hint=ruff_hint(code, fix.get("message"), str(result.get("name") or "")),
                url=result.get("url"),
            )
        )
    return findings


def _scan_secrets(paths: list[Path]) -> list[SecretHit]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    with _SECRETS_LOCK, default_settings():
        collection = SecretsCollection()
        for path in paths:
            collection.scan_file(str(path))
        return [
            SecretHit(Path(filename), int(secret.line_number or 0), str(secret.type),
                      whole_token(Path(filename), int(secret.line_number or 0), str(secret.secret_value or "")))
            for filename, secret in collection
        ]


_TOKEN_TAIL = r"[A-Za-z0-9_\-+/=.]*"


def whole_token(path: Path, line_number: int, value: str) -> str:
    """The whole secret on its line: some detectors report only a token's prefix (a GitHub token as `ghp`).

    Masking or redacting just the prefix would show the rest of the token, so the value is widened to
    the run of token characters it starts on that line.
    """
    if not value or line_number <= 0:
        return value
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return value
    if line_number > len(lines):
        return value
    widest = value
    for match in re.finditer(re.escape(value) + _TOKEN_TAIL, lines[line_number - 1]):
        if len(match.group(0)) > len(widest):
            widest = match.group(0)
    return widest


async def run_detect_secrets(files: dict[Path, str]) -> tuple[list[Finding], list[str]]:
    """Secrets in any language: findings (value masked) and the raw values, so callers can mask them elsewhere."""
    try:
        hits = await asyncio.to_thread(_scan_secrets, list(files))
    except ImportError:
        raise ToolError("detect-secrets is not installed (pip install detect-secrets)")
    by_name = {str(path.resolve()): display for path, display in files.items()}
    findings = []
    values = []
    for hit in hits:
        if hit.value:
            values.append(hit.value)
        masked = f" `{mask_secret(hit.value)}`" if hit.value else ""
        findings.append(
            Finding(
                tool="detect-secrets",
                rule=hit.kind.lower().replace(" ", "-"),
                severity="critical",
                path=by_name.get(str(hit.file.resolve()), hit.file.name),
                line=hit.line,
                message=f"{hit.kind}{masked} in the code",
                hint=SECRET_HINT,
            )
        )
    return findings, values


def mask_secret(value: str) -> str:
    """Show a secret's first few characters (a quarter at most) and its length, never the whole value."""
    keep = 4 if len(value) >= 16 else 2 if len(value) >= 8 else 0
    return f"{value[:keep]}…({len(value)} chars)"
