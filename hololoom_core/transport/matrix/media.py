"""Files and images from Matrix: downloaded through authenticated media, described, and their text extracted.

Images: format and size through Pillow, text through OCR when tesseract is installed (pytesseract).
Text, log, code and diff files: their content becomes `Attachment.text`, which the engine stores and
indexes with the message. Anything over the size limit, and unknown types, are kept as metadata only.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from hololoom_core.models import Attachment

log = logging.getLogger(__name__)

TEXT_MIMETYPES = frozenset(
    {
        "application/json", "application/x-yaml", "application/yaml", "application/xml", "application/toml",
        "application/x-sh", "application/x-shellscript", "application/javascript", "application/x-python",
        "application/x-diff", "application/x-patch", "application/sql", "application/x-ndjson",
    }
)
TEXT_EXTENSIONS = frozenset(
    {
        ".txt", ".log", ".md", ".rst", ".csv", ".tsv", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg",
        ".conf", ".xml", ".html", ".sql", ".sh", ".bash", ".py", ".go", ".rs", ".js", ".ts", ".java", ".c",
        ".h", ".cpp", ".rb", ".php", ".tf", ".diff", ".patch", ".out", ".err", ".trace", ".env.example",
    }
)


def file_kind(name: str, mimetype: str) -> str:
    """`image`, `diff`, `log`, `code`, `text` or `binary`, from the file name and mimetype."""
    suffix = PurePosixPath(name.lower()).suffix
    if mimetype.startswith("image/"):
        return "image"
    if suffix in (".diff", ".patch") or mimetype in ("text/x-diff", "text/x-patch", "application/x-diff",
                                                     "application/x-patch"):
        return "diff"
    if suffix in (".log", ".out", ".err", ".trace"):
        return "log"
    if suffix in TEXT_EXTENSIONS - {".txt", ".md", ".rst", ".csv", ".tsv", ".log"}:
        return "code"
    if mimetype.startswith("text/") or mimetype in TEXT_MIMETYPES or suffix in TEXT_EXTENSIONS:
        return "text"
    return "binary"


def decode_text(data: bytes) -> str | None:
    """The bytes as text (UTF-8, else Latin-1 when it looks like text); None for binary content."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        sample = data[:8192]
        printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in sample)
        if sample and printable / len(sample) > 0.9:
            return data.decode("latin-1")
        return None


def ocr_status() -> tuple[bool, str]:
    """Whether OCR can run here (pytesseract importable and the tesseract binary found), with a detail line."""
    try:
        import pytesseract
    except ImportError:
        return False, "pytesseract is not installed (pip install pytesseract)"
    binary = shutil.which("tesseract")
    if binary is None:
        return False, "the tesseract binary is not installed (apt-get install tesseract-ocr); images get no OCR"
    try:
        version = pytesseract.get_tesseract_version()
    except Exception as exc:  # a broken install
        return False, f"{binary} does not run ({exc})"
    return True, f"tesseract {version} at {binary}"


def describe_image(data: bytes, *, ocr: bool) -> tuple[dict[str, Any], str | None]:
    """Format, size and mode of an image through Pillow, and its OCR text when wanted and available."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            meta: dict[str, Any] = {
                "format": image.format,
                "width": image.width,
                "height": image.height,
                "mode": image.mode,
            }
            text: str | None = None
            if ocr:
                available, detail = ocr_status()
                if available:
                    import pytesseract

                    image.load()
                    text = pytesseract.image_to_string(image.convert("RGB")).strip() or None
                    meta["ocr"] = "tesseract"
                else:
                    meta["ocr"] = "unavailable"
            return meta, text
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        return {"error": f"not a readable image ({exc})"}, None


@dataclass(slots=True)
class MediaOutcome:
    """An attachment to store with its message, and a one-line notice for the room when something was refused."""

    attachment: Attachment
    notice: str | None = None


def size_text(size: int) -> str:
    """A size for people: `12.3 MB`, `840 KB`."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(1, round(size / 1000))} KB"


async def fetch_attachment(
    client: Any,
    content: dict[str, Any],
    *,
    max_bytes: int,
    max_chars: int,
    ocr: bool,
) -> MediaOutcome:
    """Download (and decrypt) one `m.image`/`m.file`, describe it and extract its text."""
    name = str(content.get("body") or content.get("filename") or "file")
    info = raw_info if isinstance(raw_info := content.get("info"), dict) else {}
    mimetype = str(info.get("mimetype") or "application/octet-stream")
    declared = info.get("size")
    encrypted_file = raw_file if isinstance(raw_file := content.get("file"), dict) else None
    url = str((encrypted_file or content).get("url") or "")
    kind = "image" if content.get("msgtype") == "m.image" else file_kind(name, mimetype)
    attachment = Attachment(name=name, mimetype=mimetype, size=int(declared or 0), url=url or None,
                            meta={"kind": kind, "encrypted": bool(encrypted_file)})
    if isinstance(declared, int) and declared > max_bytes:
        attachment.meta["skipped"] = "too large"
        return MediaOutcome(attachment, _too_large(name, declared, max_bytes))
    if not url.startswith("mxc://"):
        attachment.meta["skipped"] = "no mxc url"
        return MediaOutcome(attachment)
    if kind == "binary":
        attachment.meta["skipped"] = "unknown type"
        return MediaOutcome(attachment)
    data = await _download(client, url)
    if data is None:
        attachment.meta["skipped"] = "download failed"
        return MediaOutcome(attachment, f"I could not download `{name}` from the homeserver; it is kept as "
                                        "metadata only.")
    if encrypted_file is not None:
        try:
            data = _decrypt(data, encrypted_file)
        except Exception as exc:  # wrong key or hash: keep the metadata, say so
            attachment.meta["skipped"] = f"cannot decrypt ({type(exc).__name__})"
            return MediaOutcome(attachment, f"I could not decrypt `{name}`; it is kept as metadata only.")
    attachment.size = len(data)
    if len(data) > max_bytes:
        attachment.meta["skipped"] = "too large"
        return MediaOutcome(attachment, _too_large(name, len(data), max_bytes))
    if kind == "image":
        meta, text = await asyncio.to_thread(describe_image, data, ocr=ocr)
        attachment.meta.update(meta)
        attachment.text = text[:max_chars] if text else None
        return MediaOutcome(attachment)
    text = decode_text(data)
    if text is None:
        attachment.meta["kind"] = "binary"
        attachment.meta["skipped"] = "binary content"
        return MediaOutcome(attachment)
    attachment.meta["lines"] = text.count("\n") + 1
    if len(text) > max_chars:
        attachment.meta["truncated_at"] = max_chars
        text = text[:max_chars]
    attachment.text = text
    return MediaOutcome(attachment)


def _too_large(name: str, size: int, max_bytes: int) -> str:
    return (f"`{name}` is {size_text(size)}, over the {size_text(max_bytes)} limit for files I read; "
            "it is kept as metadata only (raise matrix.max_file_bytes to read bigger files).")


async def _download(client: Any, mxc: str) -> bytes | None:
    """The file's bytes through the authenticated media endpoint, or None when it failed."""
    from nio import MemoryDownloadResponse

    try:
        response = await client.download(mxc=mxc)
    except Exception as exc:  # connection errors
        log.warning("download of %s failed: %s", mxc, exc)
        return None
    if isinstance(response, MemoryDownloadResponse):
        return bytes(response.body)
    log.warning("download of %s failed: %s", mxc, response)
    return None


def _decrypt(data: bytes, file_info: dict[str, Any]) -> bytes:
    """Decrypt an encrypted attachment (AES-CTR key, IV and SHA-256 from the event)."""
    from nio.crypto import decrypt_attachment

    return decrypt_attachment(data, file_info["key"]["k"], file_info["hashes"]["sha256"], file_info["iv"])
