"""Command line of the Ollama wire server: run it in the foreground for a demo."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence

from hololoom_core.testing.ollama_server.models import DEFAULT_CHAT_MODEL, DEFAULT_EMBED_MODEL
from hololoom_core.testing.ollama_server.server import OllamaWireServer


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
