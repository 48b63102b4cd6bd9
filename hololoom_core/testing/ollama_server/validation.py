"""Request checks of the Ollama wire server: Go-style body/option type errors, ``keep_alive``, ``think``."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any


class _RequestError(Exception):
    """An error answered as ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_JSON_KIND = {
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
    type(None): "null",
}

# field -> (accepted python types, Go type name) per Go request struct
_FIELD_TYPES: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "ChatRequest": {
        "model": ((str,), "string"),
        "messages": ((list,), "[]api.Message"),
        "stream": ((bool,), "bool"),
        "options": ((dict,), "map[string]interface {}"),
        "tools": ((list,), "api.Tools"),
        "think": ((bool, str), "api.ThinkValue"),
    },
    "GenerateRequest": {
        "model": ((str,), "string"),
        "prompt": ((str,), "string"),
        "suffix": ((str,), "string"),
        "system": ((str,), "string"),
        "template": ((str,), "string"),
        "context": ((list,), "[]int"),
        "stream": ((bool,), "bool"),
        "raw": ((bool,), "bool"),
        "images": ((list,), "[]api.ImageData"),
        "options": ((dict,), "map[string]interface {}"),
        "think": ((bool, str), "api.ThinkValue"),
    },
    "EmbedRequest": {
        "model": ((str,), "string"),
        "truncate": ((bool,), "bool"),
        "dimensions": ((int,), "int"),
        "options": ((dict,), "map[string]interface {}"),
    },
    "EmbeddingRequest": {
        "model": ((str,), "string"),
        "prompt": ((str,), "string"),
        "options": ((dict,), "map[string]interface {}"),
    },
    "ShowRequest": {
        "model": ((str,), "string"),
        "name": ((str,), "string"),
        "system": ((str,), "string"),
        "verbose": ((bool,), "bool"),
        "options": ((dict,), "map[string]interface {}"),
    },
}

# Ollama option -> expected kind ("int", "float", "bool", "strings")
_OPTION_KINDS: dict[str, str] = {
    "numa": "bool",
    "num_ctx": "int",
    "num_batch": "int",
    "num_gpu": "int",
    "main_gpu": "int",
    "low_vram": "bool",
    "f16_kv": "bool",
    "logits_all": "bool",
    "vocab_only": "bool",
    "use_mmap": "bool",
    "use_mlock": "bool",
    "num_thread": "int",
    "num_keep": "int",
    "seed": "int",
    "num_predict": "int",
    "top_k": "int",
    "top_p": "float",
    "min_p": "float",
    "tfs_z": "float",
    "typical_p": "float",
    "repeat_last_n": "int",
    "temperature": "float",
    "repeat_penalty": "float",
    "presence_penalty": "float",
    "frequency_penalty": "float",
    "mirostat": "int",
    "mirostat_tau": "float",
    "mirostat_eta": "float",
    "penalize_newline": "bool",
    "stop": "strings",
}
_GO_OPTION_TYPE = {"int": "integer", "float": "float32", "bool": "boolean", "strings": "array"}


def _check_body(body: Any, struct: str) -> dict[str, Any]:
    """Validate a body like Go's JSON binding into ``api.<struct>``, raising 400 on a type mismatch."""
    if not isinstance(body, dict):
        kind = _JSON_KIND.get(type(body), "value")
        raise _RequestError(400, f"json: cannot unmarshal {kind} into Go value of type api.{struct}")
    for name, (types, go_type) in _FIELD_TYPES[struct].items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            kind = _JSON_KIND.get(type(value), "value")
            raise _RequestError(
                400, f"json: cannot unmarshal {kind} into Go struct field {struct}.{name} of type {go_type}"
            )
    if struct == "ChatRequest":
        for message in body.get("messages") or []:
            if not isinstance(message, dict):
                kind = _JSON_KIND.get(type(message), "value")
                raise _RequestError(
                    400,
                    f"json: cannot unmarshal {kind} into Go struct field ChatRequest.messages"
                    " of type api.Message",
                )
            for key in ("role", "content"):
                value = message.get(key)
                if value is not None and not isinstance(value, str):
                    kind = _JSON_KIND.get(type(value), "value")
                    raise _RequestError(
                        400,
                        f"json: cannot unmarshal {kind} into Go struct field Message.messages.{key}"
                        " of type string",
                    )
    return body


def _check_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Type-check known options as Ollama's ``Options.FromMap`` does (unknown keys are ignored)."""
    if not options:
        return {}
    for key, value in options.items():
        kind = _OPTION_KINDS.get(key)
        if kind is None or value is None:
            continue
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "strings":
            ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise _RequestError(500, f'option "{key}" must be of type {_GO_OPTION_TYPE[kind]}')
    return dict(options)


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def _parse_keep_alive(value: Any) -> float | None:
    """Parse ``keep_alive`` like Ollama's ``api.Duration``: seconds or Go duration; negative = forever."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _RequestError(400, "Unsupported type: 'bool'")
    if isinstance(value, (int, float)):
        return math.inf if value < 0 else float(value)
    if not isinstance(value, str):
        raise _RequestError(400, f"Unsupported type: '{type(value).__name__}'")
    text = value.strip()
    quoted = json.dumps(value)
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    if not body:
        raise _RequestError(400, f"time: invalid duration {quoted}")
    position, seconds = 0, 0.0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if not match:
            if re.fullmatch(r"[\d.]+", body[position:]):
                raise _RequestError(400, f"time: missing unit in duration {quoted}")
            raise _RequestError(400, f"time: invalid duration {quoted}")
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    seconds *= sign
    return math.inf if seconds < 0 else seconds


def _think_enabled(value: Any) -> bool:
    """Interpret ``think`` (bool or a level string such as ``"high"``) as on/off."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "none", "off")
    return bool(value)


def _json_error(raw: bytes) -> str:
    """A Go-like message for a body that is not valid JSON."""
    try:
        json.loads(raw)
    except UnicodeDecodeError:
        return "invalid character in request body"
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()):
            return "unexpected EOF"
        char = exc.doc[exc.pos]
        return f"invalid character '{char}' looking for beginning of value"
    return "invalid request body"
