"""Unified diffs: split into files, rebuild each file's new side, and know which new lines changed.

The analysers need source text, but a diff only carries its hunks. Each file's new side is rebuilt
with its hunk lines at their real line numbers and blank lines in the gaps, so a finding's line in
the rebuilt text is its line in the new file. Findings are then kept only on added lines.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")


@dataclass(slots=True)
class Hunk:
    """One hunk's new side: the first new line number and the new lines (context and added)."""

    start: int
    lines: list[str] = field(default_factory=list)


@dataclass(slots=True)
class DiffFile:
    """The new side of one file in a diff: its hunks and the new line numbers that were added."""

    path: str
    hunks: list[Hunk] = field(default_factory=list)
    added: set[int] = field(default_factory=set)
    deleted: bool = False

    @property
    def is_python(self) -> bool:
        """True for Python sources (by extension)."""
        return self.path.endswith(_PYTHON_SUFFIXES)

    def new_text(self) -> str:
        """The new side with every hunk line at its real line number and blank lines elsewhere."""
        by_line: dict[int, str] = {}
        for hunk in self.hunks:
            for offset, line in enumerate(hunk.lines):
                by_line[hunk.start + offset] = line
        if not by_line:
            return ""
        last = max(by_line)
        return "\n".join(by_line.get(number, "") for number in range(1, last + 1)) + "\n"

    def hunk_texts(self) -> list[tuple[int, str]]:
        """Each hunk alone, dedented and padded to its real line numbers: (first line, text)."""
        result = []
        for hunk in self.hunks:
            body = textwrap.dedent("\n".join(hunk.lines))
            result.append((hunk.start, "\n" * (hunk.start - 1) + body + "\n"))
        return result


def looks_like_diff(text: str) -> bool:
    """True for text that has unified-diff hunk headers (and file headers or +/- lines)."""
    lines = text.splitlines()
    has_hunk = any(_HUNK.match(line) for line in lines)
    has_files = any(line.startswith("+++ ") for line in lines) and any(line.startswith("--- ") for line in lines)
    has_changes = any(line.startswith(("+", "-")) and not line.startswith(("+++", "---")) for line in lines)
    return has_hunk and (has_files or has_changes)


def _clean_path(raw: str) -> str:
    path = raw.strip().split("\t")[0].strip()
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return path


def parse_unified_diff(text: str, default_name: str = "snippet") -> list[DiffFile]:
    """Split a unified diff into files; headerless hunks belong to `default_name`."""
    files: list[DiffFile] = []
    current: DiffFile | None = None
    hunk: Hunk | None = None
    new_line = old_left = new_left = 0
    lines = text.splitlines()
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith("--- ") and following.startswith("+++ "):
            continue  # the old-side header; the new side names the file
        if line.startswith("+++ ") and index > 0 and lines[index - 1].startswith("--- "):
            new_path = _clean_path(line[4:])
            deleted = new_path == "/dev/null"
            current = DiffFile(_clean_path(lines[index - 1][4:]) if deleted else new_path, deleted=deleted)
            files.append(current)
            hunk = None
            continue
        match = _HUNK.match(line)
        if match:
            if current is None:
                current = DiffFile(default_name)
                files.append(current)
            new_line = int(match.group(3))
            old_left = int(match.group(2) or 1)
            new_left = int(match.group(4) or 1)
            hunk = Hunk(new_line)
            current.hunks.append(hunk)
            continue
        if hunk is None or current is None:
            continue
        if line.startswith("+"):
            hunk.lines.append(line[1:])
            current.added.add(new_line)
            new_line += 1
            new_left -= 1
        elif line.startswith("-"):
            old_left -= 1
        elif line.startswith(" ") or line == "":
            hunk.lines.append(line[1:])
            new_line += 1
            old_left -= 1
            new_left -= 1
        if old_left <= 0 and new_left <= 0:
            hunk = None
        # "-" lines are gone from the new side; "\ No newline at end of file" carries no line.
    return [diff_file for diff_file in files if not diff_file.deleted and diff_file.hunks]


def python_parses(text: str) -> bool:
    """True when the text is syntactically valid Python."""
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True
