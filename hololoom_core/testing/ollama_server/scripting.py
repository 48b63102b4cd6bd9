"""Scripted behaviour of the Ollama wire server: replies, the default responder, recorded requests, failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ScriptedReply:
    """A responder result richer than text: thinking and tool calls (``{"name", "arguments"}`` dicts)."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


Responder = Callable[[str, dict[str, Any]], str | ScriptedReply]


@dataclass
class RecordedRequest:
    """One request the server received: method, path, parsed JSON body (or None) and headers."""

    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class _Failure:
    """A scripted failure waiting for a matching request."""

    kind: str  # "status" or "mid_stream"
    status: int
    message: str
    endpoint: str | None
    after_tokens: int = 0


def _last_user_text(endpoint: str, request: Mapping[str, Any]) -> str:
    """Return the text a default reply should summarise: the last user message or the prompt."""
    if endpoint == "/api/chat":
        for message in reversed(list(request.get("messages") or [])):
            if isinstance(message, Mapping) and message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else ""
        return ""
    prompt = request.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def default_responder(endpoint: str, request: dict[str, Any]) -> str:
    """Deterministic reply echoing a summary of the last user message (JSON when ``format`` is set)."""
    words = _last_user_text(endpoint, request).split()
    if words:
        summary = " ".join(words[:12]) + (" ..." if len(words) > 12 else "")
        reply = (
            f'You said: "{summary}" ({len(words)} words). '
            "This is a scripted reply from the HoloLoom Ollama wire server."
        )
    else:
        reply = "Hello! I am a scripted test model; send me a message and I will echo a summary of it."
    if request.get("format"):
        return json.dumps({"reply": reply, "words": len(words)})
    return reply
