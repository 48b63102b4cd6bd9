"""Durable storage: one SQLite file in WAL mode, with per-component versioned migrations."""

from __future__ import annotations

from hololoom_core.store.db import Migration, Store, StoreError, register_migrations

__all__ = ["Migration", "Store", "StoreError", "register_migrations"]
