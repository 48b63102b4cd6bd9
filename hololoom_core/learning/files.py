"""Private files for exports and docs: directories 0700, files 0600, written atomically (temp file, rename)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class ExportError(Exception):
    """An export or docs directory that cannot be written, described in one line."""


def private_directory(path: Path) -> Path:
    """Create `path` (and parents) readable only by the owner; a file in the way is an `ExportError`."""
    if path.exists() and not path.is_dir():
        raise ExportError(f"{path}: exists and is not a directory; choose another DIR")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ExportError(f"{path}: cannot create the directory ({exc.strerror})")
    return path


def write_private(path: Path, chunks: Iterable[str]) -> int:
    """Write text to `path` with mode 0600 (temp file in the same directory, then rename); returns bytes."""
    temporary = path.with_name(f".{path.name}.tmp")
    written = 0
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk.encode("utf-8"))
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except OSError as exc:
        try:
            temporary.unlink()
        except OSError:
            pass
        raise ExportError(f"{path}: cannot write ({exc.strerror})")
    return written
