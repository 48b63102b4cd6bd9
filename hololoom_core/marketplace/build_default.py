"""Rebuild and sign the shipped default registry from `default_sources/` (run once per change; see docs).

    python -m hololoom_core.marketplace.build_default [--key FILE] [--expires-days N]

Without `--key` a fresh key is generated in a temporary folder and thrown away after signing, so
no private key ever sits in the repository; the new public key is written to
`default_registry/public-key.json`. The index version continues from the existing index, so
installations that saw the old index accept the new one (rollback protection stays intact).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from packaging.version import Version

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.publish import publish, resign
from hololoom_core.marketplace.service import DEFAULT_REGISTRY_DIR
from hololoom_core.marketplace.signing import SigningKey, generate_key, load_key

SOURCES = Path(__file__).resolve().parent / "default_sources"
SHIPPED_KEY_ID = "hololoom-default"


def build(key: SigningKey, expires_days: float) -> int:
    """Publish every source version (oldest first) into a fresh registry folder; returns the index version."""
    previous_version = 0
    index_path = DEFAULT_REGISTRY_DIR / "index.json"
    if index_path.exists():
        previous_version = int(json.loads(index_path.read_text(encoding="utf-8"))["version"])
    with tempfile.TemporaryDirectory() as work:
        registry = Path(work) / "registry"
        registry.mkdir()
        (registry / "index.json").write_text(json.dumps({
            "schema": 1, "version": previous_version, "generated": "1970-01-01T00:00:00+00:00",
            "expires": "2999-01-01T00:00:00+00:00", "packages": {}}), encoding="utf-8")
        for package in sorted(SOURCES.iterdir()):
            for version_dir in sorted(package.iterdir(), key=lambda path: Version(path.name)):
                published = publish(version_dir, registry, key, expires_days=expires_days)
                print(f"{published.name} {published.version}: {published.sha256[:12]}…")
        final = resign(registry, key, expires_days=expires_days)
        if DEFAULT_REGISTRY_DIR.exists():
            shutil.rmtree(DEFAULT_REGISTRY_DIR)
        shutil.copytree(registry, DEFAULT_REGISTRY_DIR)
    (DEFAULT_REGISTRY_DIR / "public-key.json").write_text(json.dumps(
        {"key_id": key.key_id, "public_key": key.public_key_b64}, indent=2) + "\n", encoding="utf-8")
    return final


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Rebuild and sign the shipped default marketplace registry.")
    parser.add_argument("--key", type=Path, help="signing key file (default: a throw-away key made now)")
    parser.add_argument("--expires-days", type=float, default=5 * 365, help="how long the index stays valid "
                        "(default 5 years; the shipped registry must work offline)")
    args = parser.parse_args(argv)
    try:
        if args.key:
            version = build(load_key(args.key), args.expires_days)
        else:
            with tempfile.TemporaryDirectory() as folder:
                version = build(generate_key(Path(folder) / "key.json", SHIPPED_KEY_ID), args.expires_days)
    except MarketplaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"default registry signed at index version {version} in {DEFAULT_REGISTRY_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
