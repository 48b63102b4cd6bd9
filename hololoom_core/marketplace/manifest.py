"""`hololoom-package.yaml`: the manifest at the root of every package, checked against the pinned schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema
import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.registry import PACKAGE_NAME_PATTERN

MANIFEST_NAME = "hololoom-package.yaml"
PROVIDES_KINDS = ("workflows", "aliases", "runbooks", "patterns")

MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version", "summary", "category", "files", "provides"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": PACKAGE_NAME_PATTERN},
        "version": {"type": "string", "minLength": 1, "maxLength": 64},
        "summary": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 8000},
        "category": {"type": "string", "pattern": r"^[a-z][a-z0-9-]{0,31}$"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 20},
        "author": {"type": "string", "maxLength": 200},
        "license": {"type": "string", "maxLength": 80},
        "requires_hololoom": {"type": "string", "maxLength": 200},
        "depends": {"type": "object", "propertyNames": {"pattern": PACKAGE_NAME_PATTERN},
                    "additionalProperties": {"type": "string", "maxLength": 200}, "maxProperties": 20},
        "files": {"type": "object", "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
        "provides": {"type": "object", "additionalProperties": False,
                     "properties": {kind: {"type": "array", "items": {"type": "string"}} for kind in PROVIDES_KINDS}},
    },
}


@dataclass(slots=True)
class PackageManifest:
    """A package's manifest: identity, what it needs and depends on, its files' hashes and what it provides."""

    name: str
    version: Version
    summary: str
    category: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    author: str = ""
    license: str = ""
    requires_hololoom: SpecifierSet = field(default_factory=SpecifierSet)
    depends: dict[str, SpecifierSet] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    provides: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def parse_manifest(text: str, where: str, *, require_files: bool = True) -> PackageManifest:
    """Parse and validate manifest text; the first problem is one line naming the key."""
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise MarketplaceError(f"{where}: {MANIFEST_NAME} is not valid YAML ({str(exc).splitlines()[0]})") from None
    schema = MANIFEST_SCHEMA if require_files else {**MANIFEST_SCHEMA, "required": ["name", "version", "summary",
                                                                                  "category"]}
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        path = "/".join(str(part) for part in error.absolute_path) or "(top)"
        raise MarketplaceError(f"{where}: {MANIFEST_NAME} at {path}: {error.message}")
    try:
        version = Version(data["version"])
    except InvalidVersion:
        raise MarketplaceError(f"{where}: {MANIFEST_NAME} version '{data['version']}' is not a PEP 440 version") \
            from None
    try:
        requires = SpecifierSet(data.get("requires_hololoom", ""))
        depends = {name: SpecifierSet(spec) for name, spec in (data.get("depends") or {}).items()}
    except InvalidSpecifier as exc:
        raise MarketplaceError(f"{where}: {MANIFEST_NAME} has an invalid version range ({exc})") from None
    return PackageManifest(
        name=data["name"], version=version, summary=data["summary"], category=data["category"],
        description=data.get("description", ""), tags=list(data.get("tags") or []), author=data.get("author", ""),
        license=data.get("license", ""), requires_hololoom=requires, depends=depends,
        files=dict(data.get("files") or {}),
        provides={kind: list((data.get("provides") or {}).get(kind) or []) for kind in PROVIDES_KINDS}, raw=data)
