"""What `!review` reviews: fenced code blocks, a pasted diff or snippet, or uploaded files with text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from hololoom_core.models import Attachment
from hololoom_core.ops.review.diff import looks_like_diff, python_parses
from hololoom_core.ops.review.models import ReviewItem

_FENCE = re.compile(r"(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:\n[ \t]*\1[ \t]*(?:\n|$)|\Z)", re.S)
_URL = re.compile(r"https?://\S+")
_LANGUAGES = {
    "python": "python", "py": "python", "python3": "python", "py3": "python", "pyi": "python",
    "diff": "diff", "patch": "diff", "udiff": "diff",
}
_SUFFIX_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".pyw": "python", ".diff": "diff", ".patch": "diff",
    ".js": "javascript", ".ts": "typescript", ".go": "go", ".rs": "rust", ".java": "java", ".rb": "ruby",
    ".sh": "shell", ".bash": "shell", ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".tf": "terraform",
    ".env": "dotenv", ".ini": "ini", ".toml": "toml", ".sql": "sql", ".c": "c", ".cpp": "cpp", ".php": "php",
}
_PYTHON_SIGNS = re.compile(r"^\s*(?:def |class |import |from \S+ import |async def |@\w)|^\s*\w+\s*=|\w\(", re.M)


class ReviewInputError(Exception):
    """Nothing reviewable was given (or it cannot be fetched); one line for the person who asked."""


def guess_language(text: str, name: str = "") -> str:
    """`diff`, `python`, a language named by the file's suffix, or `text`."""
    suffix = PurePath(name).suffix.lower() if name else ""
    if suffix in _SUFFIX_LANGUAGES:
        language = _SUFFIX_LANGUAGES[suffix]
        if language != "diff" and looks_like_diff(text):
            return "diff"
        return language
    if looks_like_diff(text):
        return "diff"
    if _PYTHON_SIGNS.search(text) and python_parses(text):
        return "python"
    return "text"


def _default_name(language: str, number: int) -> str:
    suffix = {"python": ".py", "diff": ".diff"}.get(language, ".txt")
    return f"snippet{'' if number == 1 else f'-{number}'}{suffix}"


def _check_size(name: str, text: str, max_bytes: int) -> None:
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise ReviewInputError(
            f"`{name}` is {size / 1024:.0f} KB; reviews take at most {max_bytes / 1024:.0f} KB — split it or "
            "review a diff of the change"
        )


def items_from_text(body: str, args: str, max_bytes: int) -> list[ReviewItem]:
    """Fenced code blocks in the message, or else the text after the command as one snippet."""
    items: list[ReviewItem] = []
    for match in _FENCE.finditer(body):
        info, code = match.group(2).lower(), match.group(3)
        if not code.strip():
            continue
        language = _LANGUAGES.get(info) or (info if info else guess_language(code))
        if language not in ("python", "diff") and looks_like_diff(code):
            language = "diff"
        name = _default_name(language, len(items) + 1)
        _check_size(name, code, max_bytes)
        items.append(ReviewItem(name, code, language))
    if items:
        return items
    text = args.strip()
    if not text or (_URL.fullmatch(text.split()[0]) and len(text.split()) == 1):
        return []
    language = guess_language(text)
    name = _default_name(language, 1)
    _check_size(name, text, max_bytes)
    return [ReviewItem(name, text + "\n", language)]


def items_from_attachments(attachments: Iterable[Attachment | dict[str, Any]], max_bytes: int) -> tuple[
    list[ReviewItem], list[str]
]:
    """Uploaded files that carry text, and the names of those without text (images, binaries)."""
    items: list[ReviewItem] = []
    skipped: list[str] = []
    for attachment in attachments:
        if isinstance(attachment, Attachment):
            name, text = attachment.name, attachment.text
        elif isinstance(attachment, dict):
            name, text = str(attachment.get("name") or "upload"), attachment.get("text")
        else:
            continue
        if not isinstance(text, str) or not text.strip():
            skipped.append(name)
            continue
        _check_size(name, text, max_bytes)
        items.append(ReviewItem(PurePath(name).name or "upload", text, guess_language(text, name)))
    return items, skipped


def url_refusal(args: str) -> str | None:
    """The one-line reply for a review request that only names a URL (reviews never fetch from the network)."""
    match = _URL.search(args)
    if match is None:
        return None
    url = match.group(0).rstrip(".,;)>")
    return (
        f"I can't fetch {url} — reviews run offline, without network access. Paste the diff or code in a "
        "``` code block after `!review`, or upload the file, and I'll review it."
    )
