"""Ed25519 keys and signatures over the exact bytes of a registry's index.json."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from hololoom_core.marketplace.errors import MarketplaceError


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A publisher's private key with its id; the key file holds it as JSON (mode 0600)."""

    key_id: str
    private_key: Ed25519PrivateKey

    @property
    def public_key_b64(self) -> str:
        """The raw 32-byte public key in base64, as `marketplace.trusted_keys` wants it."""
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")


def key_id_for(public_key_b64: str) -> str:
    """A short stable id for a public key (used when the publisher gives none)."""
    return "ed25519:" + hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()[:16]


def generate_key(path: Path, key_id: str | None = None) -> SigningKey:
    """Create a new key and write it to `path` (refuses to overwrite; the file is readable by its owner only)."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    key = SigningKey("", private)
    key = SigningKey(key_id or key_id_for(key.public_key_b64), private)
    data = {"key_id": key.key_id, "private_key": base64.b64encode(raw).decode("ascii"),
            "public_key": key.public_key_b64}
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise MarketplaceError(f"{path}: already exists; choose another file (a key is never overwritten)") from None
    except OSError as exc:
        raise MarketplaceError(f"{path}: cannot create the key file ({exc.strerror})") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    return key


def load_key(path: Path) -> SigningKey:
    """Read a key file written by `generate_key`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        raw = base64.b64decode(data["private_key"], validate=True)
        return SigningKey(str(data["key_id"]), Ed25519PrivateKey.from_private_bytes(raw))
    except OSError as exc:
        raise MarketplaceError(f"{path}: cannot read the key file ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise MarketplaceError(f"{path}: not a HoloLoom signing key (make one with `hololoom market keygen FILE`)") \
            from None


def sign_index(index_bytes: bytes, key: SigningKey) -> bytes:
    """The index.json.sig content for these exact index bytes."""
    signature = key.private_key.sign(index_bytes)
    return (json.dumps({"key_id": key.key_id, "signature": base64.b64encode(signature).decode("ascii")},
                       indent=2) + "\n").encode("utf-8")


def verify_index(index_bytes: bytes, signature_bytes: bytes, trusted: dict[str, str], where: str) -> str:
    """Check index.json.sig against the trusted keys (id -> base64 public key); returns the signer's key id."""
    try:
        data = json.loads(signature_bytes)
        key_id = str(data["key_id"])
        signature = base64.b64decode(data["signature"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise MarketplaceError(f"{where}: index.json.sig is not a signature file ({{key_id, signature}})") from None
    if key_id not in trusted:
        raise MarketplaceError(f"{where}: index signed by untrusted key '{key_id}'; add it to "
                               "marketplace.trusted_keys only if you trust its publisher")
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(trusted[key_id]))
    try:
        public.verify(signature, index_bytes)
    except InvalidSignature:
        raise MarketplaceError(f"{where}: index.json does not match its signature by '{key_id}' "
                               "(tampered or re-signed index)") from None
    return key_id
