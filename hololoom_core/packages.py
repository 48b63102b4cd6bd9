"""Where installed marketplace packages live: `<data dir>/marketplace/active/NAME`, the installed version's files.

The marketplace writes there; the workflow library, the runbook library, the alias commands and the
pattern book read each package's `workflows/`, `runbooks/`, `aliases/` and `patterns/` folders from there.
"""

from __future__ import annotations

from pathlib import Path

ACTIVE_PARTS = ("marketplace", "active")


def active_root(data_dir: Path) -> Path:
    """The folder holding one link (or folder) per installed package."""
    return data_dir.joinpath(*ACTIVE_PARTS)


def package_folders(data_dir: Path, kind: str) -> list[tuple[str, Path]]:
    """(package name, its `kind` folder) for every installed package, by name; the folder may not exist."""
    root = active_root(data_dir)
    if not root.is_dir():
        return []
    return [(entry.name, entry / kind) for entry in sorted(root.iterdir()) if not entry.name.startswith(".")]
