"""``python -m hololoom_core.testing.ollama_server --port N``: serve the scripted Ollama API."""

from __future__ import annotations

from hololoom_core.testing.ollama_server.cli import main

raise SystemExit(main())
