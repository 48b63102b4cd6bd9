"""The SQLite connection, transactions and the migration runner.

Each capability owns its tables: it registers an ordered list of migrations under its own
component name, and `Store.migrate()` applies what is missing, recording versions per component.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Migration = str | Callable[[sqlite3.Connection], None]


class StoreError(Exception):
    """A storage problem described in one line (file, what failed, how to fix)."""


@dataclass(frozen=True, slots=True)
class _Component:
    name: str
    steps: tuple[Migration, ...]


_REGISTRY: dict[str, _Component] = {}
_ORDER: list[str] = []


def register_migrations(component: str, steps: list[Migration]) -> None:
    """Register the ordered migrations of a component; re-registering replaces them (same order)."""
    if component not in _REGISTRY:
        _ORDER.append(component)
    _REGISTRY[component] = _Component(component, tuple(steps))


def registered_components() -> list[str]:
    """Names of the components with migrations, in registration order."""
    return list(_ORDER)


def registered_migrations(component: str) -> tuple[Migration, ...]:
    """The registered migration steps of one component (the core tables register themselves this way)."""
    return _REGISTRY[component].steps


PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_directory(path: Path) -> None:
    """Create a directory (and its parents) readable by its owner only; one HoloLoom creates is set to 0700."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY_MODE)
    os.chmod(path, PRIVATE_DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


def make_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 when missing; an existing file of ours is narrowed to 0600."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            try:
                if candidate.stat().st_uid == os.getuid() and candidate.stat().st_mode & 0o077:
                    os.chmod(candidate, PRIVATE_FILE_MODE)
            except OSError:
                continue
        return
    os.close(descriptor)


class Store:
    """One SQLite database file: WAL journal, foreign keys on, migrations applied on open."""

    def __init__(self, path: Path | str, *, synchronous: str = "full") -> None:
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self._lock = threading.RLock()
        self._depth = 0
        self._owner: int | None = None  # the thread whose transaction is open
        self._after_commit: list[Callable[[], None]] = []
        self.conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":
            try:
                make_private_directory(self.path.parent)
            except OSError as exc:
                raise StoreError(f"{self.path.parent}: cannot create the data directory ({exc}); pass --data-dir")
            try:
                make_private_file(self.path)  # SQLite gives the -wal and -shm files the database's mode
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create the database file ({exc.strerror or exc}); "
                                 "pass --data-dir")
        try:
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite database ({exc}); move it aside or pass --data-dir")
        return conn

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        with self._lock:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block in one write transaction; nested blocks join the outer one. Commits before returning.

        Callbacks queued with `after_commit` inside the block run once the outermost block has committed
        (and are dropped when it rolls back).
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            self._owner = threading.get_ident()
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self._owner = None
                self._after_commit.clear()
                self.conn.execute("ROLLBACK")
                raise
            else:
                self._depth = 0
                self._owner = None
                try:
                    self.conn.execute("COMMIT")
                except BaseException:
                    self._after_commit.clear()
                    raise
                callbacks, self._after_commit = self._after_commit, []
            for callback in callbacks:
                callback()

    @contextmanager
    def relaxed_sync(self) -> Iterator[None]:
        """Commits made inside the block do not wait for the disk (WAL, `synchronous=NORMAL`).

        For writes whose loss on power failure is harmless because they are atomic and re-derivable, or that
        the fully synchronous commit following at once makes durable too (the WAL is written in order). Inside
        an open transaction it changes nothing: SQLite cannot change the setting mid-transaction.
        """
        with self._lock:
            relax = self.synchronous == "FULL" and not self.conn.in_transaction
            if relax:
                self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            if relax:
                with self._lock:
                    self.conn.execute("PRAGMA synchronous=FULL")

    def in_transaction(self) -> bool:
        """True when the calling thread is inside a `transaction()` block."""
        return self._depth > 0 and self._owner == threading.get_ident()

    def after_commit(self, callback: Callable[[], None]) -> bool:
        """Run `callback` after the calling thread's open transaction commits; False (not queued) when none is open."""
        if not self.in_transaction():
            return False
        self._after_commit.append(callback)
        return True

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement (autocommits when outside a transaction)."""
        with self._lock:
            return self.conn.execute(sql, params)

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Row | None:
        """Run a read query and return the first row or None."""
        with self._lock:
            return self.conn.execute(sql, params).fetchone()

    def scalar(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Any:
        """Run a read query and return the first column of the first row (None when no row)."""
        row = self.query_one(sql, params)
        return row[0] if row is not None else None

    # -- migrations ---------------------------------------------------------------------------

    def schema_versions(self) -> dict[str, int]:
        """The applied migration version of each component."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        return {row["component"]: row["version"] for row in self.query("SELECT component, version FROM schema_version")}

    def migrate(self, components: list[str] | None = None) -> dict[str, int]:
        """Apply every registered migration that is missing; each step commits in its own transaction."""
        return self.apply_migrations({name: _REGISTRY[name].steps for name in components or registered_components()})

    def apply_migrations(self, components: Mapping[str, Sequence[Migration]]) -> dict[str, int]:
        """Apply the missing steps of each component, in the given order; returns every component's version.

        The engine calls this once with the migrations its capabilities and plugins declared.
        """
        applied = self.schema_versions()
        for name, steps in components.items():
            component = _Component(name, tuple(steps))
            current = applied.get(name, 0)
            if current > len(component.steps):
                raise StoreError(
                    f"{self.path}: component '{name}' is at schema version {current} but this HoloLoom knows "
                    f"only {len(component.steps)}; upgrade HoloLoom or use another --data-dir"
                )
            for number, step in enumerate(component.steps[current:], start=current + 1):
                try:
                    with self.transaction() as conn:
                        if callable(step):
                            step(conn)
                        else:
                            for statement in _split_sql(step):
                                conn.execute(statement)
                        conn.execute(
                            "INSERT INTO schema_version(component, version) VALUES (?, ?) "
                            "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                            (name, number),
                        )
                except sqlite3.Error as exc:
                    raise StoreError(f"{self.path}: migration {name} #{number} failed ({exc})")
                applied[name] = number
        return applied


def _split_sql(script: str) -> list[str]:
    """Split a migration script into complete statements (triggers keep their inner semicolons)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
