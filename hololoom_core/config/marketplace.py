"""The workflow marketplace config section: registries, trusted signing keys, safety caps and auto-update."""

from __future__ import annotations

import base64
import binascii
import re

from pydantic import Field, field_validator, model_validator

from hololoom_core.config.base import StrictModel

REGISTRY_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class RegistryConfig(StrictModel):
    """One registry: a directory or an http(s) URL serving index.json, index.json.sig and packages/."""

    name: str
    url: str
    allow_unsigned: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not REGISTRY_NAME_RE.match(value):
            raise ValueError(f"registry name '{value}' must be a lowercase word such as team-ops")
        return value


class TrustedKey(StrictModel):
    """A publisher key whose signature on a registry index is trusted: an id and the raw Ed25519 key in base64."""

    id: str = Field(min_length=1, max_length=80)
    public_key: str

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("public_key must be base64 (the raw 32-byte Ed25519 key)") from None
        if len(raw) != 32:
            raise ValueError(f"public_key must decode to 32 bytes (got {len(raw)})")
        return value


class MarketplaceConfig(StrictModel):
    """Where packages come from, whose signatures count, and the limits a package must stay within."""

    enabled: bool = True
    default_registry: bool = True  # the signed registry shipped inside HoloLoom, named "default"
    registries: list[RegistryConfig] = Field(default_factory=list)
    trusted_keys: list[TrustedKey] = Field(default_factory=list)
    max_files: int = Field(default=200, ge=1, le=5_000)
    max_unpacked_bytes: int = Field(default=4_000_000, ge=1_000, le=200_000_000)
    max_package_bytes: int = Field(default=2_000_000, ge=1_000, le=100_000_000)
    max_steps_per_workflow: int = Field(default=200, ge=1, le=10_000)
    auto_update_hours: float = Field(default=6.0, gt=0, le=24 * 30)
    allow_prereleases: bool = False
    http_timeout_s: float = Field(default=15.0, gt=0, le=600)
    announce_room: str | None = None  # where auto-updates are announced; workflows.default_room when unset

    @model_validator(mode="after")
    def _unique_names(self) -> MarketplaceConfig:
        names = [registry.name for registry in self.registries]
        duplicate = next((name for name in names if names.count(name) > 1 or name == "default"), None)
        if duplicate:
            raise ValueError(f"registry name '{duplicate}' is used twice (or is the reserved name 'default')")
        return self
