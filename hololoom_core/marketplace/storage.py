"""The marketplace's files under the data dir: unpacked versions, the active links, the lockfile and state.

    <data dir>/marketplace/
      packages/NAME/VERSION-SHA12/   unpacked, read-only, verified files of one version
      active/NAME -> ../packages/NAME/VERSION-SHA12   (switched with one atomic rename)
      staging/                       work space of installs in progress (emptied on the next install)
      lock.json                      installed: name, version, sha256, registry, signer, range, previous
      state.json                     the highest index version seen per registry, artifact hashes seen
      ratings.jsonl, team-id         local ratings; this installation's anonymous id for install counts
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.packages import active_root


def write_json_atomically(path: Path, data: Any) -> None:
    """Write JSON to a temporary file, flush it to disk, then rename it over `path`."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class MarketplaceStorage:
    """Paths and atomic file operations of the marketplace folder."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "marketplace"
        self.packages = self.root / "packages"
        self.active = active_root(data_dir)
        self.staging = self.root / "staging"
        self.lock_path = self.root / "lock.json"
        self.state_path = self.root / "state.json"
        self.ratings_path = self.root / "ratings.jsonl"

    def ensure(self) -> None:
        """Create the folders."""
        for folder in (self.root, self.packages, self.active, self.staging):
            folder.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the marketplace lock (one install, update, rollback or removal at a time, across processes)."""
        self.ensure()
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_json(self, path: Path, default: dict[str, Any]) -> dict[str, Any]:
        """A JSON file's content, or `default` when absent; a corrupt file is one clear error."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return default
        except (OSError, ValueError) as exc:
            raise MarketplaceError(f"{path}: cannot read ({exc}); restore it or remove it to start over") from None
        return data if isinstance(data, dict) else default

    def lock(self) -> dict[str, dict[str, Any]]:
        """The lockfile's packages by name."""
        return dict(self.read_json(self.lock_path, {"packages": {}}).get("packages") or {})

    def save_lock(self, packages: dict[str, dict[str, Any]]) -> None:
        """Replace the lockfile atomically."""
        self.ensure()
        write_json_atomically(self.lock_path, {"schema": 1, "packages": packages})

    def state(self) -> dict[str, Any]:
        """Highest index versions and artifact hashes seen."""
        return self.read_json(self.state_path, {"registries": {}, "artifacts": {}})

    def save_state(self, state: dict[str, Any]) -> None:
        """Replace the state file atomically."""
        self.ensure()
        write_json_atomically(self.state_path, state)

    def team_id(self) -> str:
        """This installation's random id (counts distinct teams in registries' install logs; nothing personal)."""
        path = self.root / "team-id"
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            self.ensure()
            value = secrets.token_hex(8)
            path.write_text(value + "\n", encoding="utf-8")
            return value

    def version_dir(self, name: str, version: str, sha256: str) -> Path:
        """Where one verified version lives."""
        return self.packages / name / f"{version}-{sha256[:12]}"

    def new_staging(self, label: str) -> Path:
        """A fresh staging folder."""
        self.ensure()
        path = self.staging / f"{label}-{secrets.token_hex(4)}"
        path.mkdir()
        return path

    def clear_staging(self, older_than_s: float = 3600.0) -> None:
        """Remove what interrupted installs left behind (plans waiting for confirmation are younger)."""
        if self.staging.is_dir():
            now = time.time()
            for entry in self.staging.iterdir():
                if now - entry.stat().st_mtime > older_than_s:
                    remove_tree(entry)

    def place(self, staged: Path, name: str, version: str, sha256: str) -> Path:
        """Move a verified staging folder to its version folder (one rename; reused when already there)."""
        target = self.version_dir(name, version, sha256)
        if target.is_dir():
            remove_tree(staged)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, target)
        return target

    def activate(self, name: str, target: Path) -> None:
        """Point `active/NAME` at a version folder with one atomic rename of a fresh symbolic link."""
        self.ensure()
        link = self.active / f".{name}.{secrets.token_hex(4)}.tmp"
        os.symlink(os.path.relpath(target, self.active), link)
        os.replace(link, self.active / name)

    def deactivate(self, name: str) -> None:
        """Remove `active/NAME` (the version folders stay until pruned)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.active / name)

    def active_dir(self, name: str) -> Path | None:
        """The version folder `active/NAME` points at."""
        link = self.active / name
        return link.resolve() if link.is_symlink() else None

    def prune(self, name: str, keep: set[Path]) -> None:
        """Delete version folders of `name` other than `keep` (current and previous stay for rollback)."""
        folder = self.packages / name
        if not folder.is_dir():
            return
        resolved = {path.resolve() for path in keep}
        for entry in folder.iterdir():
            if entry.resolve() not in resolved:
                remove_tree(entry)
        if not any(folder.iterdir()):
            folder.rmdir()


def remove_tree(path: Path) -> None:
    """Delete a folder of read-only files (or a file)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return

    def make_writable_and_retry(function: Any, target: str, _info: Any) -> None:
        os.chmod(os.path.dirname(target), 0o755)
        os.chmod(target, 0o644)
        function(target)

    for folder, _dirs, _files in os.walk(path):
        os.chmod(folder, 0o755)
    shutil.rmtree(path, onerror=make_writable_and_retry)
