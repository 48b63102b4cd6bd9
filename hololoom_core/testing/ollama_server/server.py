"""The Ollama wire server itself: lifecycle (start, stop, context managers) and request dispatch."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any, Self

from hololoom_core.testing.ollama_server.catalog import _CatalogEndpoints
from hololoom_core.testing.ollama_server.handler import _Handler, _HTTPServer
from hololoom_core.testing.ollama_server.inference import _InferenceEndpoints
from hololoom_core.testing.ollama_server.scripting import RecordedRequest
from hololoom_core.testing.ollama_server.validation import _json_error, _RequestError

_NOT_IMPLEMENTED_ROUTES: dict[str, tuple[str, ...]] = {
    "/api/pull": ("POST",),
    "/api/push": ("POST",),
    "/api/create": ("POST",),
    "/api/copy": ("POST",),
    "/api/delete": ("DELETE",),
}


class OllamaWireServer(_CatalogEndpoints, _InferenceEndpoints):
    """Scripted Ollama-compatible HTTP server running in a background thread (see the module docstring)."""

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
