"""Loading the config: find the file, read its YAML, overlay the environment, validate into `Config`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
import yaml
from pydantic import ValidationError

from hololoom_core.config.base import APP_NAME, DEFAULT_CONFIG_NAMES
from hololoom_core.config.errors import ConfigError, _describe_validation_error
from hololoom_core.config.tree import Config
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml


def _read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """Parse a YAML file into data plus its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; create it from config.example.yaml or drop --config")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc}); check its permissions and encoding")
    try:
        data, document = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError(f"{exc.where(path)}: YAML syntax error ({exc.problem}); check indentation and quoting on that line")
    if data is None:
        return {}, document
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the top level must be a mapping of sections (matrix:, hololoom:, llm:, ...)")
    return data, document


def _apply_environment(data: dict[str, Any], environ: dict[str, str]) -> None:
    """Overlay the documented environment variables onto raw config data."""
    overrides = {
        "MATRIX_HOMESERVER": ("matrix", "homeserver"),
        "MATRIX_USER_ID": ("matrix", "user_id"),
        "MATRIX_ACCESS_TOKEN": ("matrix", "access_token"),
        "MATRIX_PASSWORD": ("matrix", "password"),
        "HOLOLOOM_DATA_DIR": ("hololoom", "data_dir"),
        "HOLOLOOM_CONFIG_MODE": ("hololoom", "config_mode"),
        "HOLOLOOM_LLM_PROVIDER": ("llm", "provider"),
        "OLLAMA_HOST": ("llm", "host"),
    }
    for variable, (section, key) in overrides.items():
        value = environ.get(variable)
        if value:
            section_data = data.setdefault(section, {})
            if not isinstance(section_data, dict):
                continue
            section_data[key] = value


def find_config_path(explicit: str | Path | None, environ: dict[str, str] | None = None) -> Path | None:
    """Pick the config file: `--config`, else `HOLOLOOM_CONFIG`, else one in the user config dir, else none."""
    environ = dict(os.environ) if environ is None else environ
    if explicit:
        return Path(explicit).expanduser()
    if environ.get("HOLOLOOM_CONFIG"):
        return Path(environ["HOLOLOOM_CONFIG"]).expanduser()
    config_dir = Path(platformdirs.user_config_dir(APP_NAME))
    for name in DEFAULT_CONFIG_NAMES:
        candidate = config_dir / name
        if candidate.is_file():
            return candidate
    return None


def load_config(
    path: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Load, overlay environment and command-line overrides, and validate the configuration."""
    environ = dict(os.environ) if environ is None else environ
    config_path = find_config_path(path, environ)
    data: dict[str, Any] = {}
    document: yaml.Node | None = None
    if config_path is not None:
        data, document = _read_yaml(config_path)
    _apply_environment(data, environ)
    if data_dir is not None:
        section = data.setdefault("hololoom", {})
        if isinstance(section, dict):
            section["data_dir"] = str(data_dir)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, config_path or Path("<environment>"), document))
    config.source = config_path
    return config
