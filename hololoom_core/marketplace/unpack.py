"""Safe unpacking of a package tarball: only plain files of the allowed kinds, within count and size caps.

Every member is checked before anything is written: no absolute paths, no `..`, no links or devices,
no file kinds a package may not carry (no code), and the tarfile `data` filter as a second opinion.
Files are written by this module (never `extractall`), so nothing lands outside the staging folder.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.manifest import MANIFEST_NAME

YAML_SUFFIXES = (".yaml", ".yml")
ALLOWED_KINDS: dict[str, tuple[str, ...]] = {
    "workflows": YAML_SUFFIXES,
    "aliases": YAML_SUFFIXES,
    "patterns": YAML_SUFFIXES,
    "runbooks": (".md", *YAML_SUFFIXES),
}
ROOT_FILES = (MANIFEST_NAME, "README.md", "CHANGELOG.md")


@dataclass(frozen=True, slots=True)
class UnpackLimits:
    """The caps a package must stay within."""

    max_files: int = 200
    max_unpacked_bytes: int = 4_000_000


def allowed_path(name: str) -> str | None:
    """Why a package may not carry this path, or None when it may (`workflows/x.yaml`, `runbooks/y.md` ...)."""
    if name in ROOT_FILES:
        return None
    parts = PurePosixPath(name).parts
    if len(parts) != 2 or parts[0] not in ALLOWED_KINDS:
        return (f"'{name}' is not a file a package may carry (only {MANIFEST_NAME}, README.md, CHANGELOG.md and "
                "workflows/, aliases/, patterns/, runbooks/ files, one level deep)")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in ALLOWED_KINDS[parts[0]]:
        return f"'{name}' has a kind of file a package may not carry ({suffix or 'no suffix'}; no code)"
    return None


def check_member(member: tarfile.TarInfo, where: str) -> str | None:
    """The normalised path of a regular-file member, None for a directory; anything unsafe raises."""
    name = member.name
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\\" in name:
        raise MarketplaceError(f"{where}: absolute or Windows path '{name}' in the package; refused")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise MarketplaceError(f"{where}: path '{name}' climbs out with '..'; refused")
    if member.issym():
        raise MarketplaceError(f"{where}: '{name}' is a symbolic link (to '{member.linkname}'); refused")
    if member.islnk():
        raise MarketplaceError(f"{where}: '{name}' is a hard link (to '{member.linkname}'); refused")
    if member.isdev() or member.isfifo():
        raise MarketplaceError(f"{where}: '{name}' is a device or pipe; refused")
    if member.isdir():
        return None
    if not member.isreg():
        raise MarketplaceError(f"{where}: '{name}' is not a regular file; refused")
    try:
        tarfile.data_filter(member, "/nonexistent-destination")
    except tarfile.FilterError as exc:
        raise MarketplaceError(f"{where}: '{name}' is refused by the tar data filter ({exc})") from None
    clean = str(PurePosixPath(*[part for part in parts if part not in ("", ".")]))
    problem = allowed_path(clean)
    if problem:
        raise MarketplaceError(f"{where}: {problem}")
    return clean


def read_package(archive: bytes, where: str, limits: UnpackLimits) -> dict[str, bytes]:
    """Every file of a package tarball by path, after all safety checks (nothing is written here)."""
    try:
        tar = tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise MarketplaceError(f"{where}: not a gzip tar archive ({exc})") from None
    files: dict[str, bytes] = {}
    total = 0
    with tar:
        try:
            for count, member in enumerate(tar, start=1):
                if count > limits.max_files:
                    raise MarketplaceError(f"{where}: more than {limits.max_files} entries (marketplace.max_files); "
                                           "refused")
                path = check_member(member, where)
                if path is None:
                    continue
                total += member.size
                if total > limits.max_unpacked_bytes:
                    raise MarketplaceError(f"{where}: unpacks to more than {limits.max_unpacked_bytes} bytes "
                                           "(marketplace.max_unpacked_bytes); refused")
                if path in files:
                    raise MarketplaceError(f"{where}: '{path}' appears twice in the archive; refused")
                handle = tar.extractfile(member)
                data = handle.read(member.size + 1) if handle is not None else b""
                if len(data) != member.size:
                    raise MarketplaceError(f"{where}: '{path}' is truncated or larger than its header says")
                files[path] = data
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise MarketplaceError(f"{where}: damaged archive ({exc})") from None
    if MANIFEST_NAME not in files:
        raise MarketplaceError(f"{where}: no {MANIFEST_NAME} at the root of the archive")
    return files


def check_file_hashes(files: dict[str, bytes], declared: dict[str, str], where: str) -> None:
    """Every file but the manifest is declared with its sha256, and every declared file is present and matches."""
    for path, data in files.items():
        if path == MANIFEST_NAME:
            continue
        expected = declared.get(path)
        if expected is None:
            raise MarketplaceError(f"{where}: '{path}' is in the archive but not in the manifest's files")
        if hashlib.sha256(data).hexdigest() != expected:
            raise MarketplaceError(f"{where}: '{path}' does not match its sha256 in the manifest (tampered file)")
    for path in declared:
        if path not in files:
            raise MarketplaceError(f"{where}: manifest lists '{path}' but the archive does not contain it")


def write_files(files: dict[str, bytes], destination: Path) -> None:
    """Write checked files under `destination` (a fresh staging folder), read-only."""
    for path, data in files.items():
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o444)
