"""Text that every later step can encode: lone surrogates and undecodable bytes become U+FFFD."""

from __future__ import annotations

from pathlib import Path

REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD; valid surrogate pairs are joined.

    Python strings can hold lone surrogates (from `surrogateescape`d command-line bytes, JSON's `\\ud800`
    escapes, or a transport's bug); SQLite, RE2 and terminals cannot encode them. Pure-Unicode text
    (nearly all of it) is returned as it is after one C-speed encode check.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def decode_bytes(data: bytes) -> str:
    """Bytes from a file, a socket or the command line as text: UTF-8, each invalid byte as U+FFFD."""
    return data.decode("utf-8", "replace")


def clean_optional(text: str | None) -> str | None:
    """`clean_text` for optional fields (None stays None)."""
    return None if text is None else clean_text(text)


def clean_argument(text: str) -> str:
    """A command-line argument as text: bytes that were not UTF-8 (kept by `surrogateescape`) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if _escaped_only(text) \
            else clean_text(text)
    return text


def _escaped_only(text: str) -> bool:
    """True when every surrogate in `text` is one `surrogateescape` makes (U+DC80..U+DCFF)."""
    return all(not 0xD800 <= ord(char) <= 0xDFFF or 0xDC80 <= ord(char) <= 0xDCFF for char in text)


class UnreadableText(ValueError):
    """A file that is not text: what is wrong with it, in a few words (the caller names the file)."""


def read_text_file(path: Path) -> str:
    """A UTF-8 text file's content; `UnreadableText` for binary or non-UTF-8 content, `OSError` if unreadable.

    For configuration-like files (patterns, specs) where a wrong byte must be reported, not guessed at.
    """
    data = path.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        raise UnreadableText(f"a binary file, not text (NUL byte at offset {nul})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableText(f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8")
