"""A scripted HTTP server that speaks Ollama's REST API, for tests and demos without the Ollama binary.

``OllamaWireServer`` listens on 127.0.0.1 (a free port unless one is given) in its own
thread, so it works from plain tests, from any asyncio event loop, and as a demo
process (``python -m hololoom_core.testing.ollama_server --port 11434``).  It is
built to be driven by the unmodified official ``ollama`` Python client
(``ollama.Client`` / ``ollama.AsyncClient``) and reproduces the wire format that
client parses.

What it implements, with Ollama's JSON shapes and status codes:

* ``POST /api/chat`` -- NDJSON streaming (``application/x-ndjson``, chunked, one
  chunk per word-token, final chunk ``done: true`` with ``done_reason`` and the
  metrics ``total_duration``, ``load_duration``, ``prompt_eval_count``,
  ``prompt_eval_duration``, ``eval_count``, ``eval_duration``; zero metrics are
  omitted as Go's ``omitempty`` does) and ``"stream": false``.  ``stream`` defaults
  to true when absent, as in Ollama.  ``options`` are type-checked like Ollama's
  and ``num_predict`` (truncates, ``done_reason: "length"``) and ``stop`` are
  honoured; ``keep_alive`` (seconds or Go duration strings) drives ``/api/ps``;
  an empty ``messages`` list answers ``done_reason: "load"`` (``"unload"`` with
  ``keep_alive: 0``).  ``format`` (``"json"`` or a schema) is accepted and the
  scripted reply returned as is (the default responder then answers a JSON object).
  ``think`` is honoured for models with the ``thinking`` capability (a reply of the
  form ``<think>...</think>answer`` is split into ``message.thinking`` and
  ``message.content``) and rejected with 400 for the others; ``tools`` are rejected
  with 400 for models without the ``tools`` capability, and a responder may return
  a :class:`ScriptedReply` with ``tool_calls`` to script the model calling a tool.
* ``POST /api/generate`` -- streaming and not, ``response`` fragments, final
  ``context`` token list, ``system``/``template``/``raw``/``suffix``/``context``/
  ``images`` accepted, raw-mode validation, load/unload on an empty prompt.
* ``POST /api/embed`` (``input`` string or list of strings -> ``embeddings``,
  ``dimensions`` truncation + renormalisation) and the legacy
  ``POST /api/embeddings`` (``prompt`` -> ``embedding``).  Vectors are
  deterministic: a sum of fixed pseudo-random vectors, one per lower-cased word,
  384 dimensions, unit length, so texts sharing words are closer than unrelated ones.
* ``GET /api/tags``, ``POST /api/show`` (``modelfile``, ``parameters``,
  ``template``, ``details``, ``model_info``, ``capabilities``, ``modified_at``),
  ``GET /api/version``, ``GET /api/ps`` (models used recently, with
  ``expires_at`` from ``keep_alive``), ``GET``/``HEAD /`` -> ``Ollama is running``.
* Errors as Ollama sends them: ``{"error": "..."}`` bodies; 400 for missing or
  malformed bodies (``missing request body``, Go-style ``json: cannot unmarshal``
  messages, ``model is required``, unsupported capabilities), 404 for unknown
  models (``model "x" not found, try pulling it first`` on inference endpoints,
  ``model 'x' not found`` on ``/api/show``), 404 ``404 page not found`` and 405
  ``405 method not allowed`` as plain text for unknown routes/methods, and a
  scripted mid-stream ``{"error": "..."}`` line (``fail_mid_stream``) or a
  scripted status failure (``fail_next``).

Scripting: ``models`` (names or :class:`ModelSpec`), a ``responder`` callable
``(endpoint, request_json) -> str | ScriptedReply`` (endpoint is the path, e.g.
``"/api/chat"``; default: a deterministic reply echoing a short summary of the last
user message), ``queue_replies`` for fixed replies in order, ``token_delay`` and
``load_delay`` (seconds) for timing tests, ``fail_next`` / ``fail_mid_stream``,
and ``requests`` (the received JSON bodies) / ``log`` (method, path, body, headers).

What it does NOT cover compared with real Ollama:

* No real models or inference: replies come only from the responder; token counts
  and durations are synthetic (word-based tokens, wall-clock timings).
* Model management is not implemented: ``/api/pull``, ``/api/push``,
  ``/api/create``, ``/api/copy``, ``DELETE /api/delete``, ``/api/blobs/*`` answer
  501 with an ``{"error": ...}`` body (install models with the constructor or
  :meth:`OllamaWireServer.set_models` instead).
* The OpenAI-compatible (``/v1/*``), Anthropic-compatible (``/v1/messages``),
  web search/fetch, sign-in and ``/api/status`` routes are absent (404).
* Images are accepted and ignored (no vision); no image generation.
* Structured outputs are not enforced: ``format`` schemas are never validated
  against the reply.  Tool calls only happen when the responder scripts them; no
  tool-call parsing of model text, no ``logprobs``/``top_logprobs`` output.
* Templates are not rendered (``template``/``system``/``raw`` only affect
  validation and ``/api/show``), ``context`` is not detokenised, ``suffix`` is not
  checked against an ``insert`` capability, ``truncate``/context-length limits are
  not applied, ``options`` other than ``num_predict``/``stop`` have no effect.
* Embeddings are not semantic (hashed bag of words: synonyms are unrelated) and do not
  depend on the model.
* No concurrency limits/queueing (``OLLAMA_NUM_PARALLEL``, 503 ``server busy``),
  no CORS/allowed-host checks, no request cancellation semantics (499), no
  ``OLLAMA_*`` environment handling, no ``tensors``/``projector_info`` in show.
* Go's exact wording is reproduced only for the errors listed above; other JSON
  syntax errors get a Go-like but not identical message.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import random
import re
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBED_MODEL",
    "EMBEDDING_DIM",
    "ModelSpec",
    "OllamaWireServer",
    "RecordedRequest",
    "Responder",
    "ScriptedReply",
    "default_responder",
    "embed_text",
    "main",
    "normalize_model_name",
]

EMBEDDING_DIM = 384
DEFAULT_CHAT_MODEL = "llama3.2:latest"
DEFAULT_EMBED_MODEL = "all-minilm:latest"
DEFAULT_VERSION = "0.12.3"
DEFAULT_KEEP_ALIVE_S = 300.0
_FOREVER = timedelta(days=365 * 292)
_TOKEN_RE = re.compile(r"\s*\S+|\s+")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_THINK_RE = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)
_EMBED_HINTS = ("embed", "minilm", "bge", "e5-", "gte-", "arctic-embed", "paraphrase")


# --------------------------------------------------------------------------- models


def normalize_model_name(name: str) -> str:
    """Return Ollama's short display name: default tag ``latest``, no registry/library prefix."""
    text = name.strip()
    for prefix in ("registry.ollama.ai/library/", "registry.ollama.ai/"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    if text.lower().startswith("library/"):
        text = text[len("library/") :]
    last = text.rsplit("/", 1)[-1]
    if text and ":" not in last:
        text = f"{text}:latest"
    return text


def _full_model_name(short: str) -> str:
    """Return the full name Ollama prints in capability errors (``registry.ollama.ai/library/x:tag``)."""
    parts = short.split("/")
    if len(parts) == 1:
        return f"registry.ollama.ai/library/{short}"
    if len(parts) == 2:
        return f"registry.ollama.ai/{short}"
    return short


def _parse_parameter_count(size: str) -> int:
    """Turn a parameter size label such as ``3.2B`` or ``22.6M`` into a count."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMBT]?)\s*", size.upper())
    if not match:
        return 0
    scale = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[match.group(2)]
    return int(float(match.group(1)) * scale)


_CHAT_TEMPLATE = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)
_FIXED_MODIFIED_AT = datetime(2025, 1, 15, 10, 20, 30, 123456, tzinfo=UTC)


@dataclass
class ModelSpec:
    """One installed model as ``/api/tags`` and ``/api/show`` describe it; ``capabilities`` gate endpoints."""

    name: str
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    size: int = 2_019_393_189
    capabilities: tuple[str, ...] = ("completion", "tools")
    context_length: int = 131_072
    embedding_length: int = 3_072
    template: str = _CHAT_TEMPLATE
    system: str = ""
    license: str = ""
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
    )
    modified_at: datetime = _FIXED_MODIFIED_AT

    def __post_init__(self) -> None:
        self.name = normalize_model_name(self.name)
        self.capabilities = tuple(self.capabilities)

    @classmethod
    def chat(cls, name: str, *, thinking: bool = False, tools: bool = True, **kwargs: Any) -> ModelSpec:
        """Build a generative model spec (``completion`` plus optional ``tools``/``thinking``)."""
        caps = ["completion"] + (["tools"] if tools else []) + (["thinking"] if thinking else [])
        return cls(name=name, capabilities=tuple(caps), **kwargs)

    @classmethod
    def embedding(cls, name: str, **kwargs: Any) -> ModelSpec:
        """Build an embedding-only model spec (BERT-like, 384-dimensional, no chat/generate)."""
        defaults: dict[str, Any] = {
            "family": "bert",
            "parameter_size": "23M",
            "quantization_level": "F16",
            "size": 45_960_996,
            "capabilities": ("embedding",),
            "context_length": 512,
            "embedding_length": EMBEDDING_DIM,
            "template": "{{ .Prompt }}",
            "parameters": {"num_ctx": 256},
        }
        defaults.update(kwargs)
        return cls(name=name, **defaults)

    @classmethod
    def guess(cls, name: str) -> ModelSpec:
        """Build a spec from a bare name: embedding-looking names become embedding models, others chat."""
        lowered = name.lower()
        if any(hint in lowered for hint in _EMBED_HINTS):
            return cls.embedding(name)
        return cls.chat(name, thinking=any(t in lowered for t in ("qwen3", "deepseek-r1", "gpt-oss")))

    @property
    def digest(self) -> str:
        """Deterministic 64-hex manifest digest (Ollama lists it without the ``sha256:`` prefix)."""
        return hashlib.sha256(f"hololoom-wire:{self.name}".encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        """Return the ``details`` object shared by tags, show and ps."""
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


# --------------------------------------------------------------------------- scripting


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


def embed_text(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """Deterministic unit-length embedding: the sum of a fixed pseudo-random vector per lower-cased word.

    Texts sharing words are closer than unrelated texts, and every leading slice stays
    informative, so ``dimensions`` truncation behaves like a Matryoshka model's.  A text
    without word characters is embedded as one token of its raw content.
    """
    vector = [0.0] * dim
    for word in _WORD_RE.findall(text.lower()) or [f"\x00{text}"]:
        for index, value in enumerate(_word_vector(word, dim)):
            vector[index] += value
    return _normalize(vector)


@functools.lru_cache(maxsize=4096)
def _word_vector(word: str, dim: int) -> tuple[float, ...]:
    """A fixed Gaussian vector seeded from the word's hash."""
    seed = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    return tuple(rng.gauss(0.0, 1.0) for _ in range(dim))


def _blob_digest(spec: ModelSpec) -> str:
    """Deterministic stand-in for the digest of the model's weights blob."""
    return hashlib.sha256(spec.digest.encode()).hexdigest()


def _normalize(vector: list[float]) -> list[float]:
    """Scale to unit length the way Ollama does (guarding against a zero norm)."""
    norm = max(math.sqrt(sum(v * v for v in vector)), 1e-12)
    return [v / norm for v in vector]


def _tokens(text: str) -> list[str]:
    """Split text into word-tokens (leading whitespace kept) whose concatenation is the text."""
    return _TOKEN_RE.findall(text)


# --------------------------------------------------------------------------- wire helpers


class _RequestError(Exception):
    """An error answered as ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


# --------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server that knows its owning :class:`OllamaWireServer`."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: OllamaWireServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """Per-connection request handler; all behaviour lives on the owning server object."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms delayed-ACK stalls
    server: _HTTPServer

    def setup(self) -> None:
        """Register the connection so ``stop()`` can close keep-alive sockets."""
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr only when the server is verbose."""
        if self.server.owner.verbose:
            sys.stderr.write(f"[ollama-wire] {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        """Dispatch GET."""
        self.server.owner._dispatch(self, "GET")

    def do_HEAD(self) -> None:
        """Dispatch HEAD."""
        self.server.owner._dispatch(self, "HEAD")

    def do_POST(self) -> None:
        """Dispatch POST."""
        self.server.owner._dispatch(self, "POST")

    def do_DELETE(self) -> None:
        """Dispatch DELETE."""
        self.server.owner._dispatch(self, "DELETE")

    def do_PUT(self) -> None:
        """Dispatch PUT."""
        self.server.owner._dispatch(self, "PUT")

    def do_OPTIONS(self) -> None:
        """Dispatch OPTIONS."""
        self.server.owner._dispatch(self, "OPTIONS")

    # ---- low-level writers

    def read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(self, status: int, body: bytes, content_type: str, head_only: bool = False) -> None:
        """Send a complete response with Content-Length."""
        self.send_response_only(status)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)
        self.wfile.flush()
        self.log_request(status, len(body))

    def send_json(self, status: int, payload: Any, head_only: bool = False) -> None:
        """Send a JSON response as gin's ``c.JSON`` does."""
        self.send_bytes(status, _dumps(payload), "application/json; charset=utf-8", head_only)

    def start_stream(self) -> None:
        """Start a chunked NDJSON response."""
        self.send_response_only(200)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.log_request(200)

    def stream_line(self, payload: Any) -> None:
        """Write one NDJSON line as its own HTTP chunk and flush it."""
        data = _dumps(payload) + b"\n"
        self.wfile.write(f"{len(data):X}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    def end_stream(self) -> None:
        """Terminate the chunked body."""
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


# --------------------------------------------------------------------------- the server


_NOT_IMPLEMENTED_ROUTES: dict[str, tuple[str, ...]] = {
    "/api/pull": ("POST",),
    "/api/push": ("POST",),
    "/api/create": ("POST",),
    "/api/copy": ("POST",),
    "/api/delete": ("DELETE",),
}


class OllamaWireServer:
    """Scripted Ollama-compatible HTTP server running in a background thread (see the module docstring)."""

    def __init__(
        self,
        models: Iterable[str | ModelSpec] | None = None,
        responder: Responder | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_delay: float = 0.0,
        load_delay: float = 0.0,
        version: str = DEFAULT_VERSION,
        verbose: bool = False,
    ) -> None:
        """Configure the server; ``models`` defaults to ``llama3.2:latest`` and ``all-minilm:latest``."""
        self.bind_host = host
        self.port = port
        self.responder: Responder = responder or default_responder
        self.token_delay = token_delay
        self.load_delay = load_delay
        self.version = version
        self.verbose = verbose
        self.requests: list[dict[str, Any]] = []
        self.log: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self._models: dict[str, ModelSpec] = {}
        self._loaded: dict[str, tuple[datetime, int]] = {}
        self._failures: deque[_Failure] = deque()
        self._replies: deque[str | ScriptedReply] = deque()
        self._connections: set[socket.socket] = set()
        self._lock = threading.RLock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._call_count = 0
        self.set_models([DEFAULT_CHAT_MODEL, DEFAULT_EMBED_MODEL] if models is None else models)

    # ---- lifecycle

    def start(self) -> Self:
        """Bind (a free port if ``port`` is 0, the same one on restart) and serve in a daemon thread."""
        with self._lock:
            if self._httpd is not None:
                return self
            httpd = _HTTPServer((self.bind_host, self.port), self)
            self.port = httpd.server_address[1]
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"ollama-wire-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close open (keep-alive or streaming) connections; later connects are refused."""
        with self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd, self._thread = None, None
            connections = list(self._connections)
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """Whether the server is currently listening."""
        return self._httpd is not None

    @property
    def url(self) -> str:
        """Base URL to hand to ``ollama.Client(host=...)``."""
        return f"http://{self.bind_host}:{self.port}"

    def __enter__(self) -> Self:
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on leaving a ``with`` block."""
        self.stop()

    async def __aenter__(self) -> Self:
        """Start on entering an ``async with`` block (the server runs in its own thread either way)."""
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        """Stop on leaving an ``async with`` block."""
        self.stop()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        """Remember or forget an open client connection."""
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ---- scripting API

    def set_models(self, models: Iterable[str | ModelSpec]) -> None:
        """Replace the installed models (names are turned into specs with :meth:`ModelSpec.guess`)."""
        specs = [m if isinstance(m, ModelSpec) else ModelSpec.guess(m) for m in models]
        with self._lock:
            self._models = {spec.name.lower(): spec for spec in specs}
            self._loaded = {k: v for k, v in self._loaded.items() if k in self._models}

    def add_model(self, model: str | ModelSpec) -> ModelSpec:
        """Install one more model and return its spec."""
        spec = model if isinstance(model, ModelSpec) else ModelSpec.guess(model)
        with self._lock:
            self._models[spec.name.lower()] = spec
        return spec

    def remove_model(self, name: str) -> None:
        """Uninstall a model (and unload it)."""
        key = normalize_model_name(name).lower()
        with self._lock:
            self._models.pop(key, None)
            self._loaded.pop(key, None)

    @property
    def models(self) -> list[ModelSpec]:
        """The installed model specs."""
        with self._lock:
            return list(self._models.values())

    def loaded_models(self) -> list[str]:
        """Names of the models ``/api/ps`` currently reports."""
        self._expire_loaded()
        with self._lock:
            return [self._models[key].name for key in self._loaded if key in self._models]

    def queue_replies(self, *replies: str | ScriptedReply) -> None:
        """Queue fixed replies consumed in order by chat/generate before falling back to the responder."""
        with self._lock:
            self._replies.extend(replies)

    def fail_next(
        self, status: int = 500, message: str = "internal error", *, endpoint: str | None = None
    ) -> None:
        """Fail the next request to ``endpoint`` (``"/api/chat"``...; None = any) with ``{"error": ...}``."""
        with self._lock:
            self._failures.append(_Failure("status", status, message, endpoint))

    def fail_mid_stream(
        self,
        message: str = "an error was encountered while running the model",
        *,
        after_tokens: int = 2,
        endpoint: str | None = None,
    ) -> None:
        """Break the next chat/generate reply after ``after_tokens`` chunks with an ``{"error": ...}`` line.

        With ``after_tokens=0`` nothing has been written yet, so (like Ollama) the error
        becomes a 500 JSON response; a non-streaming request also gets a 500.
        """
        with self._lock:
            self._failures.append(_Failure("mid_stream", 500, message, endpoint, after_tokens))

    def clear(self) -> None:
        """Forget recorded requests, queued replies, pending failures and loaded models."""
        with self._lock:
            self.requests.clear()
            self.log.clear()
            self.errors.clear()
            self._failures.clear()
            self._replies.clear()
            self._loaded.clear()

    def requests_to(self, endpoint: str) -> list[dict[str, Any]]:
        """Recorded JSON bodies sent to one endpoint path."""
        with self._lock:
            return [r.body for r in self.log if r.path == endpoint and isinstance(r.body, dict)]

    # ---- internals: state

    def _find_model(self, name: str) -> ModelSpec | None:
        """Look an installed model up by (case-insensitive, tag-defaulted) name."""
        with self._lock:
            return self._models.get(normalize_model_name(name).lower())

    def _take_failure(self, path: str, kind: str) -> _Failure | None:
        """Pop the first pending failure of ``kind`` matching ``path``."""
        with self._lock:
            for failure in list(self._failures):
                if failure.kind != kind:
                    continue
                if failure.endpoint is None:
                    if kind == "mid_stream" and path not in ("/api/chat", "/api/generate"):
                        continue
                elif failure.endpoint != path:
                    continue
                self._failures.remove(failure)
                return failure
        return None

    def _touch_loaded(self, spec: ModelSpec, keep_alive: float | None, num_ctx: int) -> None:
        """Record a model as loaded (``/api/ps``) until now + keep_alive; 0 unloads it."""
        seconds = DEFAULT_KEEP_ALIVE_S if keep_alive is None else keep_alive
        key = spec.name.lower()
        with self._lock:
            if seconds == 0:
                self._loaded.pop(key, None)
                return
            now = datetime.now(UTC)
            expires = now + (_FOREVER if math.isinf(seconds) else timedelta(seconds=seconds))
            self._loaded[key] = (expires, num_ctx)

    def _expire_loaded(self) -> None:
        """Drop models whose keep-alive has run out."""
        now = datetime.now(UTC)
        with self._lock:
            for key in [k for k, (expires, _) in self._loaded.items() if expires <= now]:
                del self._loaded[key]

    def _next_reply(self, endpoint: str, body: dict[str, Any]) -> ScriptedReply:
        """Produce the scripted reply for a chat/generate request."""
        with self._lock:
            queued = self._replies.popleft() if self._replies else None
            self._call_count += 1
        try:
            result = queued if queued is not None else self.responder(endpoint, body)
        except Exception as exc:  # surfaced to the client like a runner failure
            with self._lock:
                self.errors.append(exc)
            raise _RequestError(500, f"responder failed: {exc}") from exc
        if isinstance(result, ScriptedReply):
            return result
        return ScriptedReply(content=str(result))

    # ---- dispatch

    def _dispatch(self, handler: _Handler, method: str) -> None:
        """Route one request, recording it and answering errors in Ollama's format."""
        path = handler.path.split("?", 1)[0]
        raw = b""
        body: Any = None
        try:
            raw = handler.read_body()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    body = None
            with self._lock:
                self.log.append(RecordedRequest(method, path, body, dict(handler.headers.items())))
                if isinstance(body, dict):
                    self.requests.append(body)
            routes = self._routes()
            unimplemented = _NOT_IMPLEMENTED_ROUTES.get(path)
            if path.startswith("/api/blobs/") and path.count("/") == 3:
                unimplemented = ("POST", "HEAD")
            if path not in routes and unimplemented is None:
                handler.send_bytes(404, b"404 page not found", "text/plain")
                return
            allowed = routes.get(path) or {}
            if unimplemented is not None:
                if method not in unimplemented:
                    handler.send_bytes(405, b"405 method not allowed", "text/plain")
                    return
                raise _RequestError(501, f"{path} is not implemented by the HoloLoom Ollama wire server")
            if method not in allowed:
                handler.send_bytes(405, b"405 method not allowed", "text/plain")
                return
            failure = self._take_failure(path, "status")
            if failure is not None:
                raise _RequestError(failure.status, failure.message)
            if method == "POST":
                if not raw.strip():
                    raise _RequestError(400, "missing request body")
                if body is None:
                    raise _RequestError(400, _json_error(raw))
            allowed[method](handler, body, method == "HEAD")
        except _RequestError as err:
            self._safe_send(handler, err.status, {"error": err.message}, method == "HEAD")
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            handler.close_connection = True
        except Exception as exc:  # noqa: BLE001 - keep the server alive and report the bug to the client
            with self._lock:
                self.errors.append(exc)
            self._safe_send(handler, 500, {"error": f"internal server error: {exc}"}, method == "HEAD")

    def _safe_send(self, handler: _Handler, status: int, payload: Any, head_only: bool = False) -> None:
        """Send a JSON error, ignoring a client that has gone away."""
        try:
            handler.send_json(status, payload, head_only)
        except OSError:
            handler.close_connection = True

    def _routes(self) -> dict[str, dict[str, Callable[[_Handler, Any, bool], None]]]:
        """The route table: path -> method -> handler."""
        return {
            "/": {"GET": self._root, "HEAD": self._root},
            "/api/version": {"GET": self._version, "HEAD": self._version},
            "/api/tags": {"GET": self._tags, "HEAD": self._tags},
            "/api/ps": {"GET": self._ps},
            "/api/show": {"POST": self._show},
            "/api/chat": {"POST": self._chat},
            "/api/generate": {"POST": self._generate},
            "/api/embed": {"POST": self._embed},
            "/api/embeddings": {"POST": self._embeddings},
        }

    # ---- simple endpoints

    def _root(self, handler: _Handler, body: Any, head: bool) -> None:
        """``GET /``: the plain-text liveness answer."""
        handler.send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8", head)

    def _version(self, handler: _Handler, body: Any, head: bool) -> None:
        """``GET /api/version``."""
        handler.send_json(200, {"version": self.version}, head)

    def _tags(self, handler: _Handler, body: Any, head: bool) -> None:
        """``GET /api/tags``: installed models, most recently modified first."""
        specs = sorted(self.models, key=lambda s: s.modified_at, reverse=True)
        models = [
            {
                "name": spec.name,
                "model": spec.name,
                "modified_at": _rfc3339(spec.modified_at),
                "size": spec.size,
                "digest": spec.digest,
                "details": spec.details(),
            }
            for spec in specs
        ]
        handler.send_json(200, {"models": models}, head)

    def _ps(self, handler: _Handler, body: Any, head: bool) -> None:
        """``GET /api/ps``: models used recently and not yet expired, longest-lived first."""
        self._expire_loaded()
        with self._lock:
            entries = [
                (self._models[k], exp, ctx) for k, (exp, ctx) in self._loaded.items() if k in self._models
            ]
        entries.sort(key=lambda item: item[1], reverse=True)
        models = [
            {
                "name": spec.name,
                "model": spec.name,
                "size": spec.size,
                "digest": spec.digest,
                "details": spec.details(),
                "expires_at": _rfc3339(expires),
                "size_vram": spec.size,
                "context_length": ctx,
            }
            for spec, expires, ctx in entries
        ]
        handler.send_json(200, {"models": models}, head)

    def _show(self, handler: _Handler, body: Any, head: bool) -> None:
        """``POST /api/show``: modelfile, parameters, template, details, model_info, capabilities."""
        req = _check_body(body, "ShowRequest")
        name = req.get("model") or req.get("name") or ""
        if not name:
            raise _RequestError(400, "model is required")
        spec = self._find_model(name)
        if spec is None:
            raise _RequestError(404, f"model '{name}' not found")
        payload: dict[str, Any] = {}
        if spec.license:
            payload["license"] = spec.license
        payload["modelfile"] = self._modelfile(spec)
        parameters = self._parameters_text(spec.parameters)
        if parameters:
            payload["parameters"] = parameters
        if spec.template:
            payload["template"] = spec.template
        system = req.get("system") or spec.system
        if system:
            payload["system"] = system
        payload["details"] = spec.details()
        payload["model_info"] = self._model_info(spec)
        payload["capabilities"] = list(spec.capabilities)
        payload["modified_at"] = _rfc3339(spec.modified_at)
        handler.send_json(200, payload)

    @staticmethod
    def _parameters_text(parameters: Mapping[str, Any]) -> str:
        """Render parameters like ``ollama show`` (name padded to 30, Go-quoted value, lists one per line)."""
        lines = []
        for key, value in parameters.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                rendered = (
                    json.dumps(item)
                    if isinstance(item, str)
                    else str(item).lower()
                    if isinstance(item, bool)
                    else str(item)
                )
                lines.append(f"{key:<30} {rendered}")
        return "\n".join(lines)

    @staticmethod
    def _modelfile(spec: ModelSpec) -> str:
        """Render a Modelfile in the layout ``ollama show --modelfile`` uses."""
        lines = [
            '# Modelfile generated by "ollama show"',
            "# To build a new Modelfile based on this, replace FROM with:",
            f"# FROM {spec.name}",
            "",
            f"FROM /usr/share/ollama/.ollama/models/blobs/sha256-{_blob_digest(spec)}",
        ]
        if spec.template:
            lines.append(f'TEMPLATE """{spec.template}"""')
        if spec.system:
            lines.append(f'SYSTEM """{spec.system}"""')
        for key, value in spec.parameters.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                lines.append(f"PARAMETER {key} {item}")
        if spec.license:
            lines.append(f'LICENSE """{spec.license}"""')
        return "\n".join(lines) + "\n"

    @staticmethod
    def _model_info(spec: ModelSpec) -> dict[str, Any]:
        """GGUF-style key/value metadata for ``model_info``."""
        arch = spec.family
        return {
            "general.architecture": arch,
            "general.basename": spec.name.split(":", 1)[0].rsplit("/", 1)[-1],
            "general.file_type": 15 if spec.quantization_level.upper() == "Q4_K_M" else 1,
            "general.parameter_count": _parse_parameter_count(spec.parameter_size),
            "general.quantization_version": 2,
            f"{arch}.context_length": spec.context_length,
            f"{arch}.embedding_length": spec.embedding_length,
            "tokenizer.ggml.model": "bert" if "embedding" in spec.capabilities else "gpt2",
            "tokenizer.ggml.tokens": [],
        }

    # ---- inference endpoints

    def _resolve_inference_model(self, req: Mapping[str, Any]) -> tuple[str, ModelSpec]:
        """Return (requested name, spec) or raise Ollama's 400/404."""
        name = req.get("model") or ""
        if not name:
            raise _RequestError(400, "model is required")
        spec = self._find_model(name)
        if spec is None:
            raise _RequestError(404, f'model "{name}" not found, try pulling it first')
        return name, spec

    def _chat(self, handler: _Handler, body: Any, head: bool) -> None:
        """``POST /api/chat``."""
        started = time.perf_counter_ns()
        req = _check_body(body, "ChatRequest")
        name, spec = self._resolve_inference_model(req)
        keep_alive = _parse_keep_alive(req.get("keep_alive"))
        messages = req.get("messages") or []
        if not messages and keep_alive == 0:
            self._touch_loaded(spec, 0, 0)
            handler.send_json(200, self._chat_chunk(name, "", done=True, done_reason="unload"))
            return
        if "completion" not in spec.capabilities:
            raise _RequestError(400, f'"{name}" does not support chat')
        if req.get("tools") and "tools" not in spec.capabilities:
            raise _RequestError(400, f"{_full_model_name(spec.name)} does not support tools")
        think = self._resolve_think(req, name, spec)
        options = _check_options(req.get("options"))
        self._touch_loaded(spec, keep_alive, int(options.get("num_ctx") or 4096))
        if not messages:
            self._sleep(self.load_delay)
            handler.send_json(200, self._chat_chunk(name, "", done=True, done_reason="load"))
            return
        prompt_text = "\n".join(str(m.get("content") or "") for m in messages)
        prompt_count = len(_tokens(prompt_text)) + 4 * len(messages)
        self._respond(handler, "/api/chat", req, name, think, options, prompt_count, started)

    def _generate(self, handler: _Handler, body: Any, head: bool) -> None:
        """``POST /api/generate``."""
        started = time.perf_counter_ns()
        req = _check_body(body, "GenerateRequest")
        name, spec = self._resolve_inference_model(req)
        keep_alive = _parse_keep_alive(req.get("keep_alive"))
        prompt = req.get("prompt") or ""
        if not prompt and keep_alive == 0:
            self._touch_loaded(spec, 0, 0)
            handler.send_json(200, self._generate_chunk(name, "", done=True, done_reason="unload"))
            return
        if req.get("raw") and (req.get("template") or req.get("system") or req.get("context")):
            raise _RequestError(400, "raw mode does not support template, system, or context")
        if "completion" not in spec.capabilities:
            raise _RequestError(400, f'"{name}" does not support generate')
        think = self._resolve_think(req, name, spec)
        options = _check_options(req.get("options"))
        self._touch_loaded(spec, keep_alive, int(options.get("num_ctx") or 4096))
        if not prompt:
            self._sleep(self.load_delay)
            handler.send_json(200, self._generate_chunk(name, "", done=True, done_reason="load"))
            return
        prompt_text = f"{req.get('system') or spec.system}\n{prompt}"
        prompt_count = len(_tokens(prompt_text)) + len(req.get("context") or []) + 4
        self._respond(handler, "/api/generate", req, name, think, options, prompt_count, started)

    @staticmethod
    def _resolve_think(req: Mapping[str, Any], name: str, spec: ModelSpec) -> bool:
        """Apply Ollama's thinking rules: default on for thinking models, 400 when asked of others."""
        value = req.get("think")
        if "thinking" in spec.capabilities:
            return True if value is None else _think_enabled(value)
        if value is not None and _think_enabled(value):
            raise _RequestError(400, f'"{name}" does not support thinking')
        return False

    def _sleep(self, seconds: float) -> None:
        """Sleep for scripted latency."""
        if seconds > 0:
            time.sleep(seconds)

    def _chat_chunk(
        self,
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
        self,
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

    def _respond(
        self,
        handler: _Handler,
        endpoint: str,
        req: dict[str, Any],
        name: str,
        think: bool,
        options: Mapping[str, Any],
        prompt_count: int,
        started: int,
    ) -> None:
        """Produce, shape and send (streamed or whole) the scripted reply of a chat/generate request."""
        reply = self._next_reply(endpoint, req)
        content, thinking = reply.content, reply.thinking
        match = _THINK_RE.match(content)
        if match:
            thinking = thinking or match.group(1).strip()
            content = content[match.end() :]
        if not think:
            thinking = ""
        done_reason = "stop"
        for stop in options.get("stop") or []:
            if stop and stop in content:
                content = content[: content.index(stop)]
        pieces: list[tuple[str, str]] = [("thinking", t) for t in _tokens(thinking)] + [
            ("content", t) for t in _tokens(content)
        ]
        num_predict = options.get("num_predict")
        if isinstance(num_predict, (int, float)) and num_predict > 0 and len(pieces) > int(num_predict):
            pieces = pieces[: int(num_predict)]
            done_reason = "length"
        tool_calls = (
            [] if endpoint != "/api/chat" or done_reason == "length" else self._tool_calls(reply.tool_calls)
        )
        eval_count = len(pieces) + sum(len(_tokens(json.dumps(c))) for c in tool_calls)
        failure = self._take_failure(endpoint, "mid_stream")
        stream = req.get("stream", True) is not False
        chat = endpoint == "/api/chat"

        self._sleep(self.load_delay)
        loaded = time.perf_counter_ns()
        prompt_ns = max(1, prompt_count) * 25_000

        if not stream:
            self._sleep(self.token_delay * len(pieces))
            if failure is not None:
                raise _RequestError(failure.status, failure.message)
            text = "".join(t for kind, t in pieces if kind == "content")
            thought = "".join(t for kind, t in pieces if kind == "thinking")
            finished = time.perf_counter_ns()
            metrics = self._final_metrics(started, loaded, finished, prompt_count, prompt_ns, eval_count)
            if chat:
                payload = self._chat_chunk(
                    name,
                    text,
                    done=True,
                    done_reason=done_reason,
                    thinking=thought,
                    tool_calls=tool_calls,
                    metrics=metrics,
                )
            else:
                payload = self._generate_chunk(
                    name,
                    text,
                    done=True,
                    done_reason=done_reason,
                    thinking=thought,
                    context=self._context(req, text),
                    metrics=metrics,
                )
            handler.send_json(200, payload)
            return

        if failure is not None and failure.after_tokens <= 0:
            raise _RequestError(failure.status, failure.message)
        handler.start_stream()
        for sent, (kind, token) in enumerate(pieces):
            if failure is not None and sent >= failure.after_tokens:
                handler.stream_line({"error": failure.message})
                handler.end_stream()
                return
            if sent:
                self._sleep(self.token_delay)
            if chat:
                chunk = self._chat_chunk(
                    name,
                    "" if kind == "thinking" else token,
                    done=False,
                    thinking=token if kind == "thinking" else "",
                )
            else:
                chunk = self._generate_chunk(
                    name,
                    "" if kind == "thinking" else token,
                    done=False,
                    thinking=token if kind == "thinking" else "",
                )
            handler.stream_line(chunk)
        if failure is not None:
            handler.stream_line({"error": failure.message})
            handler.end_stream()
            return
        if tool_calls:
            handler.stream_line(self._chat_chunk(name, "", done=False, tool_calls=tool_calls))
        finished = time.perf_counter_ns()
        metrics = self._final_metrics(started, loaded, finished, prompt_count, prompt_ns, eval_count)
        text = "".join(t for kind, t in pieces if kind == "content")
        if chat:
            handler.stream_line(
                self._chat_chunk(name, "", done=True, done_reason=done_reason, metrics=metrics)
            )
        else:
            handler.stream_line(
                self._generate_chunk(
                    name,
                    "",
                    done=True,
                    done_reason=done_reason,
                    context=self._context(req, text),
                    metrics=metrics,
                )
            )
        handler.end_stream()

    @staticmethod
    def _final_metrics(
        started: int, loaded: int, finished: int, prompt_count: int, prompt_ns: int, eval_count: int
    ) -> dict[str, int]:
        """Build the final chunk's metrics from wall-clock checkpoints (durations in nanoseconds)."""
        load_ns = max(1, loaded - started)
        eval_ns = max(eval_count * 1_000, finished - loaded) if eval_count else 0
        total_ns = max(finished - started, load_ns + prompt_ns + eval_ns)
        return _metrics(total_ns, load_ns, prompt_count, prompt_ns, eval_count, eval_ns)

    @staticmethod
    def _context(req: Mapping[str, Any], response: str) -> list[int] | None:
        """Token ids for ``context`` (omitted in raw mode, like Ollama)."""
        if req.get("raw"):
            return None
        previous = [int(t) for t in req.get("context") or [] if isinstance(t, int)]
        return previous + _context_tokens(f"{req.get('system') or ''}{req.get('prompt') or ''}{response}")

    def _tool_calls(self, calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Render scripted tool calls as Ollama does (``id``, ``function.index``, ``name``, ``arguments``)."""
        rendered = []
        for index, call in enumerate(calls):
            function = call.get("function") if isinstance(call.get("function"), Mapping) else call
            name = str(function.get("name", ""))
            arguments = dict(function.get("arguments") or {})
            seed = f"{self._call_count}:{index}:{name}".encode()
            call_id = "call_" + hashlib.sha256(seed).hexdigest()[:8]
            rendered.append(
                {"id": call_id, "function": {"index": index, "name": name, "arguments": arguments}}
            )
        return rendered

    def _embed(self, handler: _Handler, body: Any, head: bool) -> None:
        """``POST /api/embed``: one unit vector per input string."""
        started = time.perf_counter_ns()
        req = _check_body(body, "EmbedRequest")
        raw_input = req.get("input")
        if isinstance(raw_input, str):
            inputs = [raw_input] if raw_input else []
        elif isinstance(raw_input, list):
            if not all(isinstance(item, str) for item in raw_input):
                raise _RequestError(400, "invalid input type")
            inputs = list(raw_input)
        elif raw_input is None:
            inputs = []
        else:
            raise _RequestError(400, "invalid input type")
        name, spec = self._resolve_inference_model(req)
        options = _check_options(req.get("options"))
        self._touch_loaded(
            spec, _parse_keep_alive(req.get("keep_alive")), int(options.get("num_ctx") or 2048)
        )
        self._sleep(self.load_delay)
        loaded = time.perf_counter_ns()
        if not inputs:
            handler.send_json(200, {"model": name, "embeddings": []})
            return
        dimensions = int(req.get("dimensions") or 0)
        vectors = []
        for text in inputs:
            vector = embed_text(text)
            if 0 < dimensions < len(vector):
                vector = _normalize(vector[:dimensions])
            vectors.append(vector)
        prompt_count = sum(len(_tokens(text)) + 2 for text in inputs)
        finished = time.perf_counter_ns()
        payload: dict[str, Any] = {"model": name, "embeddings": vectors}
        payload.update(_metrics(max(1, finished - started), max(1, loaded - started), prompt_count, 0, 0, 0))
        handler.send_json(200, payload)

    def _embeddings(self, handler: _Handler, body: Any, head: bool) -> None:
        """Legacy ``POST /api/embeddings``: ``prompt`` -> ``embedding`` (an empty prompt only loads)."""
        req = _check_body(body, "EmbeddingRequest")
        _name, spec = self._resolve_inference_model(req)
        options = _check_options(req.get("options"))
        self._touch_loaded(
            spec, _parse_keep_alive(req.get("keep_alive")), int(options.get("num_ctx") or 2048)
        )
        self._sleep(self.load_delay)
        prompt = req.get("prompt") or ""
        handler.send_json(200, {"embedding": embed_text(prompt) if prompt else []})


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


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server in the foreground for a demo until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m hololoom_core.testing.ollama_server",
        description="Serve a scripted, Ollama-compatible HTTP API (no real models).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=11434, help="port to bind (default 11434, 0 = any free port)"
    )
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help=f"install a model (repeatable; default {DEFAULT_CHAT_MODEL} and {DEFAULT_EMBED_MODEL})",
    )
    parser.add_argument(
        "--token-delay", type=float, default=0.03, help="seconds between streamed tokens (default 0.03)"
    )
    parser.add_argument(
        "--load-delay", type=float, default=0.0, help="seconds before the first token (default 0)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    server = OllamaWireServer(
        models=args.models,
        host=args.host,
        port=args.port,
        token_delay=args.token_delay,
        load_delay=args.load_delay,
        verbose=not args.quiet,
    )
    server.start()
    names = ", ".join(spec.name for spec in server.models)
    print(
        f"HoloLoom Ollama wire server listening on {server.url} (models: {names}); Ctrl+C to stop", flush=True
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("HoloLoom Ollama wire server stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
