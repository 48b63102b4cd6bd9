"""Publishing: build a package tarball from a folder, add it to a registry directory's index, and sign the index.

Tarballs are reproducible (sorted members, zero times and owners), so the same folder always gives
the same sha256. The index version grows with every publish; a version already published with
other bytes is refused (no re-tagging).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.manifest import MANIFEST_NAME, PROVIDES_KINDS, parse_manifest
from hololoom_core.marketplace.registry import check_index_document
from hololoom_core.marketplace.signing import SigningKey, sign_index
from hololoom_core.marketplace.unpack import allowed_path
from hololoom_core.ops.workflows.library import load_file
from hololoom_core.ops.workflows.schema import WorkflowSchemaError


@dataclass(frozen=True, slots=True)
class Published:
    """What `publish` did: the package, its file in the registry, its sha256 and the new index version."""

    name: str
    version: str
    file: str
    sha256: str
    index_version: int
    unchanged: bool = False


def _tar_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


def build_archive(files: dict[str, bytes]) -> bytes:
    """A reproducible gzip tar of `files` (path -> bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            tar.addfile(*_tar_member(name, files[name]))
    import gzip

    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def collect_package(folder: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read a package folder: its manifest (files and provides filled in) and every file it ships."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise MarketplaceError(f"{folder}: no {MANIFEST_NAME} (name, version, summary, category ...)")
    data = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    parse_manifest(manifest_path.read_text(encoding="utf-8"), str(folder), require_files=False)
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_dir() or relative == MANIFEST_NAME:
            continue
        if path.is_symlink():
            raise MarketplaceError(f"{folder}: {relative} is a symbolic link; packages carry plain files only")
        problem = allowed_path(relative)
        if problem:
            raise MarketplaceError(f"{folder}: {problem}")
        if relative.startswith("workflows/"):
            try:
                load_file(path)
            except WorkflowSchemaError as exc:
                raise MarketplaceError(str(exc)) from None
        files[relative] = path.read_bytes()
    provides: dict[str, list[str]] = {kind: [] for kind in PROVIDES_KINDS}
    for relative in files:
        kind = relative.split("/", 1)[0]
        if kind in provides:
            provides[kind].append(Path(relative).stem)
    data["files"] = {path: hashlib.sha256(content).hexdigest() for path, content in sorted(files.items())}
    data["provides"] = {kind: names for kind, names in provides.items() if names}
    manifest_text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    parse_manifest(manifest_text, str(folder))
    files[MANIFEST_NAME] = manifest_text.encode("utf-8")
    return data, files


def empty_index(now: datetime, expires_days: float) -> dict[str, Any]:
    """A new registry's index."""
    return {"schema": 1, "version": 0, "generated": now.isoformat(timespec="seconds"),
            "expires": (now + timedelta(days=expires_days)).isoformat(timespec="seconds"), "packages": {}}


def publish(folder: Path, registry: Path, key: SigningKey, *, expires_days: float = 30.0,
            now: datetime | None = None) -> Published:
    """Build the package in `folder`, add it to the registry directory, bump the index version and sign it."""
    now = now or datetime.now(tz=UTC)
    manifest, files = collect_package(folder)
    name, version = str(manifest["name"]), str(manifest["version"])
    archive = build_archive(files)
    digest = hashlib.sha256(archive).hexdigest()
    registry.mkdir(parents=True, exist_ok=True)
    index_path = registry / "index.json"
    if index_path.exists():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise MarketplaceError(f"{index_path}: not JSON ({exc})") from None
        check_index_document(index, str(registry))
    else:
        index = empty_index(now, expires_days)
    versions = index["packages"].setdefault(name, {"versions": {}})["versions"]
    relative = f"packages/{name}-{version}.tar.gz"
    existing = versions.get(version)
    if existing is not None and existing["sha256"] != digest:
        raise MarketplaceError(f"{name} {version} is already published with other content (sha256 "
                               f"{existing['sha256'][:12]}…); publish a new version instead of re-tagging")
    (registry / "packages").mkdir(exist_ok=True)
    (registry / relative).write_bytes(archive)
    versions[version] = {"file": relative, "sha256": digest, "summary": manifest.get("summary", ""),
                         "category": manifest.get("category", ""), "tags": list(manifest.get("tags") or [])}
    index["version"] = int(index["version"]) + 1
    index["generated"] = now.isoformat(timespec="seconds")
    index["expires"] = (now + timedelta(days=expires_days)).isoformat(timespec="seconds")
    write_index(registry, index, key)
    return Published(name, version, relative, digest, index["version"], unchanged=existing is not None)


def write_index(registry: Path, index: dict[str, Any], key: SigningKey) -> None:
    """Write index.json and its signature (the signature covers the exact bytes written)."""
    body = (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8")
    temporary = registry / ".index.json.tmp"
    temporary.write_bytes(body)
    (registry / ".index.json.sig.tmp").write_bytes(sign_index(body, key))
    temporary.replace(registry / "index.json")
    (registry / ".index.json.sig.tmp").replace(registry / "index.json.sig")


def resign(registry: Path, key: SigningKey, *, expires_days: float = 30.0, now: datetime | None = None) -> int:
    """Extend a registry's expiry and sign it again (a new index version); returns that version."""
    now = now or datetime.now(tz=UTC)
    index = json.loads((registry / "index.json").read_text(encoding="utf-8"))
    check_index_document(index, str(registry))
    index["version"] = int(index["version"]) + 1
    index["generated"] = now.isoformat(timespec="seconds")
    index["expires"] = (now + timedelta(days=expires_days)).isoformat(timespec="seconds")
    write_index(registry, index, key)
    return int(index["version"])


