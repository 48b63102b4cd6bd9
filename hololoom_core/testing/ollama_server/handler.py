"""HTTP plumbing of the Ollama wire server: the threaded server and the per-connection handler."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from hololoom_core.testing.ollama_server.responses import _dumps

if TYPE_CHECKING:
    from hololoom_core.testing.ollama_server.server import OllamaWireServer


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
