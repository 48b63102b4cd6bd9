"""Helpers of the marketplace tests: signing keys, package folders, registries (good and hostile) and configs."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hololoom_core.config import Config
from hololoom_core.marketplace.publish import build_archive, write_index
from hololoom_core.marketplace.signing import SigningKey, generate_key


def make_key(folder: Path, key_id: str) -> SigningKey:
    """A fresh signing key written under `folder` (generated at test time; never committed)."""
    folder.mkdir(parents=True, exist_ok=True)
    return generate_key(folder / f"{key_id}.key", key_id)


def trusted(*keys: SigningKey) -> list[dict[str, str]]:
    """`marketplace.trusted_keys` entries for these keys."""
    return [{"id": key.key_id, "public_key": key.public_key_b64} for key in keys]


def workflow_text(name: str, version: str, *, command: str | None = None, steps: str | None = None) -> str:
    """A small valid workflow."""
    trigger = f"triggers:\n  - command: {command}\n" if command else ""
    body = steps or f"  - say: \"{name} {version} says hello to {{{{ run.user }}}}\"\n"
    return f"name: {name}\ndescription: {name} from version {version}\n{trigger}steps:\n{body}"


def package_folder(root: Path, name: str, version: str, *, files: dict[str, str] | None = None,
                   depends: dict[str, str] | None = None, category: str = "incident",
                   extra: dict[str, Any] | None = None) -> Path:
    """A package source folder with a manifest and its files (default: one workflow named after the package)."""
    folder = root / f"{name}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"name": name, "version": version, "summary": f"{name} for tests",
                                "category": category, "tags": ["test", name], "author": "tests",
                                "license": "Apache-2.0"}
    if depends:
        manifest["depends"] = depends
    manifest.update(extra or {})
    (folder / "hololoom-package.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    chosen = files if files is not None else {
        f"workflows/{name}.yaml": workflow_text(f"{name}-flow", version, command=f"{name[:20]}-go")}
    chosen = {"CHANGELOG.md": f"# {name}\n\n## {version}\n- release {version}\n", **chosen}
    for relative, text in chosen.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def manifest_for(name: str, version: str, files: dict[str, bytes], **extra: Any) -> bytes:
    """A manifest (YAML bytes) listing `files` with their sha256."""
    data: dict[str, Any] = {"name": name, "version": version, "summary": "hostile", "category": "incident",
                            "files": {path: hashlib.sha256(body).hexdigest() for path, body in files.items()},
                            "provides": {}}
    data.update(extra)
    return yaml.safe_dump(data, sort_keys=False).encode("utf-8")


def raw_archive(members: Iterable[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """A gzip tar built member by member (links, devices and odd paths allowed), for hostile packages."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for member in members:
            if isinstance(member, tuple):
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
            else:
                tar.addfile(member)
    return buffer.getvalue()


def index_document(version: int = 1, *, expires_in: timedelta = timedelta(days=30)) -> dict[str, Any]:
    """An empty index."""
    now = datetime.now(tz=UTC)
    return {"schema": 1, "version": version, "generated": now.isoformat(timespec="seconds"),
            "expires": (now + expires_in).isoformat(timespec="seconds"), "packages": {}}


def add_archive(registry: Path, key: SigningKey | None, name: str, version: str, archive: bytes, *,
                sha256: str | None = None, bump: bool = True, index: dict[str, Any] | None = None) -> None:
    """Put an archive into a registry folder under NAME-VERSION and re-sign the index (or leave it unsigned)."""
    registry.mkdir(parents=True, exist_ok=True)
    (registry / "packages").mkdir(exist_ok=True)
    relative = f"packages/{name}-{version}.tar.gz"
    (registry / relative).write_bytes(archive)
    if index is None:
        path = registry / "index.json"
        index = json.loads(path.read_text(encoding="utf-8")) if path.exists() else index_document(0)
    versions = index["packages"].setdefault(name, {"versions": {}})["versions"]
    versions[version] = {"file": relative, "sha256": sha256 or hashlib.sha256(archive).hexdigest(),
                         "summary": f"{name} (hostile test)", "category": "incident", "tags": []}
    if bump:
        index["version"] = int(index["version"]) + 1
    if key is None:
        (registry / "index.json").write_text(json.dumps(index), encoding="utf-8")
    else:
        write_index(registry, index, key)


def simple_archive(name: str, version: str, files: dict[str, bytes], **manifest: Any) -> bytes:
    """A well-formed archive (manifest + files)."""
    return build_archive({**files, "hololoom-package.yaml": manifest_for(name, version, files, **manifest)})


def make_config(data_dir: Path, registries: list[dict[str, Any]], keys: list[dict[str, str]], *,
                workflows: dict[str, Any] | None = None, admins: list[str] | None = None,
                **market: Any) -> Config:
    """A config on a temp data dir with these registries and trusted keys (the shipped registry off)."""
    data: dict[str, Any] = {
        "hololoom": {"data_dir": str(data_dir)},
        "workflows": {"tick_seconds": 3600, **(workflows or {})},
        "marketplace": {"default_registry": False, "registries": registries, "trusted_keys": keys, **market},
    }
    if admins is not None:
        data["bot"] = {"admins": admins}
    return Config.model_validate(data)


def snapshot(root: Path, exclude: Path) -> dict[str, str]:
    """Every file under `root` but outside `exclude`, with its sha256 (to prove nothing else was written)."""
    result = {}
    for path in sorted(root.rglob("*")):
        if exclude == path or exclude in path.parents or not path.is_file() or path.is_symlink():
            continue
        result[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result
