"""Ollama's response bodies: word tokens, timestamps, Go-style JSON, metrics and chat/generate chunks."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

_TOKEN_RE = re.compile(r"\s*\S+|\s+")


def _tokens(text: str) -> list[str]:
    """Split text into word-tokens (leading whitespace kept) whose concatenation is the text."""
    return _TOKEN_RE.findall(text)


def _rfc3339(moment: datetime) -> str:
    """Format like Go's RFC3339Nano (``Z`` for UTC, fraction without trailing zeros)."""
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        base += "." + f"{moment.microsecond:06d}".rstrip("0")
    offset = moment.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return base + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{base}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _now_ns_string() -> str:
    """Current UTC time in RFC3339 with nanoseconds, as Ollama's ``created_at``."""
    ns = time.time_ns()
    seconds, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def _dumps(payload: Any) -> bytes:
    """Serialise compactly with Go's HTML-safe escaping of ``<``, ``>``, ``&``, U+2028 and U+2029."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def _metrics(
    total: int, load: int, prompt_count: int, prompt_ns: int, eval_count: int, eval_ns: int
) -> dict[str, int]:
    """Return Ollama's metrics with zero values dropped, mirroring Go's ``omitempty``."""
    items = {
        "total_duration": total,
        "load_duration": load,
        "prompt_eval_count": prompt_count,
        "prompt_eval_duration": prompt_ns,
        "eval_count": eval_count,
        "eval_duration": eval_ns,
    }
    return {key: value for key, value in items.items() if value}


def _context_tokens(text: str) -> list[int]:
    """Deterministic stand-in token ids for ``/api/generate``'s ``context``."""
    ids = []
    for token in _tokens(text):
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest()
        ids.append(int.from_bytes(digest, "big") % 128_256)
    return ids


def _chat_chunk(
    name: str,
    content: str,
    *,
    done: bool,
    done_reason: str | None = None,
    thinking: str = "",
    tool_calls: list[dict[str, Any]] | None = None,
    metrics: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """One ``/api/chat`` object in Ollama's field order."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = tool_calls
    chunk: dict[str, Any] = {"model": name, "created_at": _now_ns_string(), "message": message}
    if done_reason:
        chunk["done_reason"] = done_reason
    chunk["done"] = done
    chunk.update(metrics or {})
    return chunk


def _generate_chunk(
    name: str,
    response: str,
    *,
    done: bool,
    done_reason: str | None = None,
    thinking: str = "",
    context: list[int] | None = None,
    metrics: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """One ``/api/generate`` object in Ollama's field order."""
    chunk: dict[str, Any] = {"model": name, "created_at": _now_ns_string(), "response": response}
    if thinking:
        chunk["thinking"] = thinking
    chunk["done"] = done
    if done_reason:
        chunk["done_reason"] = done_reason
    if context:
        chunk["context"] = context
    chunk.update(metrics or {})
    return chunk


def _final_metrics(
    started: int, loaded: int, finished: int, prompt_count: int, prompt_ns: int, eval_count: int
) -> dict[str, int]:
    """Build the final chunk's metrics from wall-clock checkpoints (durations in nanoseconds)."""
    load_ns = max(1, loaded - started)
    eval_ns = max(eval_count * 1_000, finished - loaded) if eval_count else 0
    total_ns = max(finished - started, load_ns + prompt_ns + eval_ns)
    return _metrics(total_ns, load_ns, prompt_count, prompt_ns, eval_count, eval_ns)


def _context(req: Mapping[str, Any], response: str) -> list[int] | None:
    """Token ids for ``context`` (omitted in raw mode, like Ollama)."""
    if req.get("raw"):
        return None
    previous = [int(t) for t in req.get("context") or [] if isinstance(t, int)]
    return previous + _context_tokens(f"{req.get('system') or ''}{req.get('prompt') or ''}{response}")
