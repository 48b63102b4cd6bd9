"""What every config module shares: the application name and the strict pydantic base of all sections."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

APP_NAME = "hololoom"
DEFAULT_CONFIG_NAMES = ("config.yaml", "hololoom.yaml")


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


_HOST_NAME = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63}){0,126}\.?|"
                        r"[0-9A-Fa-f:.]+)$")


def http_url_with_host(value: str, example: str, *, default_scheme: str | None = None) -> str:
    """Check that `value` is an http(s) URL naming a host (`http://` alone is not); returns it without a
    trailing slash. `default_scheme` is put in front of a bare `host:port`. Raises ValueError with the fix."""
    text = value.strip()
    if default_scheme and "://" not in text:
        text = f"{default_scheme}://{text}"
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a bad port raises ValueError here
    except ValueError:
        host = ""
    if parts.scheme not in ("http", "https") or not _HOST_NAME.match(host):
        raise ValueError(f"must be an http:// or https:// URL with a host, for example {example}")
    return text.rstrip("/")


def directory_or_missing(value: Path | None) -> Path | None:
    """Check that a configured directory is a directory when it exists (it may be created later)."""
    if value is not None and Path(value).expanduser().exists() and not Path(value).expanduser().is_dir():
        raise ValueError(f"{value} is a file, not a directory; point it at a directory")
    return value
