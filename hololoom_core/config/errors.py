"""Config errors: `ConfigError`, YAML line lookup and the one-line message for a validation failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from hololoom_core.config.tree import Config
from hololoom_core.yamldoc import yaml_line


class ConfigError(Exception):
    """A configuration problem, described in one line an operator can act on."""


def _describe_validation_error(error: ValidationError, path: Path, document: yaml.Node | None) -> str:
    """Turn the first pydantic error into one operator-facing line."""
    first = error.errors()[0]
    location = tuple(part for part in first["loc"] if not (isinstance(part, str) and part.startswith("function-")))
    key = ".".join(str(part) for part in location) or "(top level)"
    line = yaml_line(document, location)
    where = f"{path}:{line}" if line else str(path)
    kind = first["type"]
    if kind == "extra_forbidden":
        parent = location[:-1]
        model: Any = Config
        for part in parent:
            field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
            annotation = field.annotation if field else None
            model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
            if model is None:
                break
        known = ", ".join(sorted(model.model_fields)) if model is not None else ""
        fix = f"remove it or use one of: {known}" if known else "remove it"
        return f"{where}: unknown key '{key}' ({fix}); see config.example.yaml"
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    others = error.errors()[1:]
    more = ""
    if others:
        listed = "; ".join(
            f"'{'.'.join(str(part) for part in problem['loc'])}' {_plain(problem['msg'])}" for problem in others[:5]
        )
        more = f" (also: {listed}" + (f"; and {len(others) - 5} more" if len(others) > 5 else "") + ")"
    return f"{where}: '{key}' {message}; fix it as config.example.yaml shows{more}"


def _plain(message: str) -> str:
    """A pydantic message without its "Value error, " prefix."""
    return message[len("Value error, "):] if message.startswith("Value error, ") else message
