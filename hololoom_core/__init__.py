"""HoloLoom ChatOps engine: the message pipeline, store, memory and operations, with no UI dependency."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
