"""The scripted state of the Ollama wire server: installed and loaded models, replies, failures, records."""

from __future__ import annotations

import math
import socket
import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hololoom_core.testing.ollama_server.models import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBED_MODEL,
    ModelSpec,
    normalize_model_name,
)
from hololoom_core.testing.ollama_server.scripting import (
    RecordedRequest,
    Responder,
    ScriptedReply,
    _Failure,
    default_responder,
)
from hololoom_core.testing.ollama_server.validation import _RequestError

if TYPE_CHECKING:
    from hololoom_core.testing.ollama_server.handler import _HTTPServer

DEFAULT_VERSION = "0.12.3"
DEFAULT_KEEP_ALIVE_S = 300.0
_FOREVER = timedelta(days=365 * 292)


class _WireState:
    """Installed and loaded models, queued replies, scripted failures and recorded requests (the scripting API)."""

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
