"""Registries: read a directory or an http(s) URL, verify its signed index, and guard against rollback and freeze.

A registry serves `index.json`, `index.json.sig`, `packages/NAME-VERSION.tar.gz` and, optionally,
`ratings/NAME.jsonl` and `installs/NAME.jsonl` (see docs/marketplace.md for the pinned format).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.signing import verify_index

MAX_INDEX_BYTES = 4_000_000
MAX_JSONL_BYTES = 4_000_000
PACKAGE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
PACKAGE_FILE_RE = re.compile(r"^packages/[A-Za-z0-9][A-Za-z0-9._+-]{0,200}\.tar\.gz$")

INDEX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema", "version", "generated", "expires", "packages"],
    "properties": {
        "schema": {"const": 1},
        "version": {"type": "integer", "minimum": 0},
        "generated": {"type": "string"},
        "expires": {"type": "string"},
        "packages": {
            "type": "object",
            "propertyNames": {"pattern": PACKAGE_NAME_PATTERN},
            "additionalProperties": {
                "type": "object",
                "required": ["versions"],
                "properties": {"versions": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["file", "sha256"],
                        "properties": {
                            "file": {"type": "string", "pattern": PACKAGE_FILE_RE.pattern},
                            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            "summary": {"type": "string"},
                            "category": {"type": "string"},
                            "tags": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                }},
            },
        },
    },
}


def parse_time(value: str, what: str) -> datetime:
    """An ISO-8601 time (a missing zone means UTC)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MarketplaceError(f"{what}: '{value}' is not an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_index_document(data: Any, where: str) -> None:
    """Validate an index against the pinned schema; the first problem is one line with its JSON path."""
    error = next(iter(sorted(jsonschema.Draft202012Validator(INDEX_SCHEMA).iter_errors(data),
                             key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        path = "/".join(str(part) for part in error.absolute_path) or "(top)"
        raise MarketplaceError(f"{where}: index.json at {path}: {error.message}")


class RegistrySource:
    """Where a registry's files come from: a local directory or an http(s) base URL."""

    def __init__(self, name: str, url: str, *, allow_unsigned: bool = False, trusted: dict[str, str] | None = None,
                 timeout_s: float = 15.0, read_only: bool = False) -> None:
        self.name = name
        self.read_only = read_only
        self.url = url
        self.allow_unsigned = allow_unsigned
        self.trusted = dict(trusted or {})
        self.timeout_s = timeout_s
        self.is_http = url.startswith(("http://", "https://"))
        self.directory = None if self.is_http else Path(url.removeprefix("file://")).expanduser()
        self._client: Any = None  # one httpx client per http registry, made on first use

    def __repr__(self) -> str:
        return f"<registry {self.name} {self.url}>"

    def read(self, relative: str, limit: int, *, missing_ok: bool = False) -> bytes | None:
        """The bytes of one registry file (at most `limit`); None when it is absent and `missing_ok`."""
        if self.directory is not None:
            path = self.directory / relative
            try:
                if path.is_symlink():
                    raise MarketplaceError(f"registry {self.name}: {relative} is a symbolic link; refused")
                size = path.stat().st_size
                if size > limit:
                    raise MarketplaceError(f"registry {self.name}: {relative} is {size} bytes (limit {limit})")
                return path.read_bytes()
            except FileNotFoundError:
                if missing_ok:
                    return None
                raise MarketplaceError(f"registry {self.name}: {relative} not found in {self.directory}") from None
            except OSError as exc:
                raise MarketplaceError(f"registry {self.name}: cannot read {relative} ({exc.strerror})") from None
        return self._fetch(relative, limit, missing_ok)

    def _fetch(self, relative: str, limit: int, missing_ok: bool) -> bytes | None:
        import httpx

        url = self.url.rstrip("/") + "/" + relative
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout_s, follow_redirects=False, trust_env=False)
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code == 404 and missing_ok:
                    return None
                if response.status_code != 200:
                    raise MarketplaceError(f"registry {self.name}: GET {url} answered HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise MarketplaceError(f"registry {self.name}: {relative} is larger than {limit} bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise MarketplaceError(f"registry {self.name}: cannot fetch {url} ({type(exc).__name__}: {exc})") \
                from None

    @property
    def writable(self) -> bool:
        """True for a local directory this process may write (ratings and installs are appended there)."""
        import os

        return (not self.read_only and self.directory is not None and self.directory.is_dir()
                and os.access(self.directory, os.W_OK))

    def append_line(self, folder: str, name: str, record: dict[str, Any]) -> bool:
        """Append one JSON line to `folder/NAME.jsonl` when the registry is writable; True when written."""
        if not self.writable or self.directory is None or not re.match(PACKAGE_NAME_PATTERN, name):
            return False
        target = self.directory / folder
        try:
            target.mkdir(exist_ok=True)
            with (target / f"{name}.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
        except OSError:
            return False
        return True

    def read_lines(self, folder: str, name: str) -> list[dict[str, Any]]:
        """The JSON records of `folder/NAME.jsonl` (bad lines skipped; absent file: none)."""
        try:
            raw = self.read(f"{folder}/{name}.jsonl", MAX_JSONL_BYTES, missing_ok=True)
        except MarketplaceError:
            return []
        records = []
        for line in (raw or b"").decode("utf-8", "replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


@dataclass(slots=True)
class VerifiedIndex:
    """A registry index that passed the schema, signature, expiry and rollback checks."""

    registry: str
    version: int
    data: dict[str, Any]
    signer: str | None  # the key id, or None for an allowed unsigned registry
    expires: datetime
    packages: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        """True when a trusted key signed this index."""
        return self.signer is not None


def load_index(source: RegistrySource, highest_seen: int | None, now: datetime) -> VerifiedIndex:
    """Fetch and verify a registry's index; refuse tampering, untrusted keys, expiry and version rollback."""
    where = f"registry {source.name}"
    raw = source.read("index.json", MAX_INDEX_BYTES)
    assert raw is not None
    signature = source.read("index.json.sig", 64_000, missing_ok=True)
    signer: str | None = None
    if signature is None:
        if not source.allow_unsigned:
            raise MarketplaceError(f"{where}: index.json is not signed (no index.json.sig); refused unless the "
                                   "registry is marked allow_unsigned: true")
    else:
        try:
            signer = verify_index(raw, signature, source.trusted, where)
        except MarketplaceError:
            if not source.allow_unsigned:
                raise
            signer = None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise MarketplaceError(f"{where}: index.json is not JSON ({exc})") from None
    check_index_document(data, where)
    expires = parse_time(data["expires"], f"{where}: expires")
    if expires <= now:
        raise MarketplaceError(f"{where}: index expired at {expires.isoformat()} (a frozen or stale registry); "
                               "ask its publisher to re-sign it")
    version = int(data["version"])
    if highest_seen is not None and version < highest_seen:
        raise MarketplaceError(f"{where}: index version {version} is older than version {highest_seen} seen "
                               "before (rollback attack?); refused")
    packages = {name: dict(entry["versions"]) for name, entry in data["packages"].items()}
    return VerifiedIndex(source.name, version, data, signer, expires, packages)
