"""Configuration: one pydantic model tree, loaded from YAML, overridden by environment variables.

A missing file means offline defaults. A bad file raises `ConfigError` whose message is one line
naming the file, the key (and its line when known) and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

APP_NAME = "hololoom"
DEFAULT_CONFIG_NAMES = ("config.yaml", "hololoom.yaml")


class ConfigError(Exception):
    """A configuration problem, described in one line an operator can act on."""


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MatrixConfig(StrictModel):
    """How the bot reaches a Matrix homeserver; empty homeserver means no Matrix (offline)."""

    homeserver: str | None = None
    user_id: str | None = None
    access_token: SecretStr | None = None
    password: SecretStr | None = None
    device_id: str | None = None
    display_name: str = "HoloLoom"
    command_prefix: str = "!"
    rooms: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)

    @field_validator("command_prefix")
    @classmethod
    def _prefix_not_blank(cls, value: str) -> str:
        if not value or value.strip() != value or len(value) > 3:
            raise ValueError("must be 1-3 non-space characters, for example '!'")
        return value

    @field_validator("homeserver")
    @classmethod
    def _homeserver_is_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, for example https://matrix.example.org")
        return value.rstrip("/") if value else value

    @field_validator("user_id")
    @classmethod
    def _user_id_shape(cls, value: str | None) -> str | None:
        if value and not (value.startswith("@") and ":" in value):
            raise ValueError("must look like @bot:example.org")
        return value

    @property
    def configured(self) -> bool:
        """True when there is enough to log in: homeserver, user id and a token or password."""
        return bool(self.homeserver and self.user_id and (self.access_token or self.password))


class HololoomConfig(StrictModel):
    """Core engine settings: retrieval mode, where data lives, and the bot's name in the room."""

    config_mode: Literal["bare", "fast", "fused"] = "fast"
    data_dir: Path | None = None
    bot_name: str = "hololoom"

    @field_validator("bot_name")
    @classmethod
    def _bot_name_word(cls, value: str) -> str:
        if not value or not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError("must be one word of letters, digits, '-' or '_', for example hololoom")
        return value.lower()


class LlmConfig(StrictModel):
    """Which language provider answers: the offline engine (default) or an Ollama server."""

    provider: Literal["offline", "ollama"] = "offline"
    host: str = "http://127.0.0.1:11434"
    model: str = "llama3.2"
    judge_model: str | None = None
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    connect_timeout_s: float = Field(default=3.0, gt=0, le=120)
    temperature: float = Field(default=0.2, ge=0, le=2)


class FeaturesConfig(StrictModel):
    """Switches for the learning and collaboration features (all on by default)."""

    self_improving: bool = True
    team_learning: bool = True
    workflow_marketplace: bool = True
    predictive_quality: bool = True
    multi_agent: bool = True


class AclRule(StrictModel):
    """Who may run a command: glob lists of users and rooms to allow or deny (deny wins)."""

    allow_users: list[str] | None = None
    deny_users: list[str] = Field(default_factory=list)
    allow_rooms: list[str] | None = None
    deny_rooms: list[str] = Field(default_factory=list)
    admin_only: bool = False


class AclConfig(StrictModel):
    """Access control: per-command rules keyed by command glob, plus a default rule."""

    default: AclRule = Field(default_factory=AclRule)
    commands: dict[str, AclRule] = Field(default_factory=dict)


class StoreConfig(StrictModel):
    """SQLite durability: `full` syncs the write-ahead log on every commit, `normal` at checkpoints."""

    synchronous: Literal["full", "normal"] = "full"


class AnswerConfig(StrictModel):
    """Limits of the answer path: how much context to retrieve and cite."""

    max_sources: int = Field(default=5, ge=0, le=50)
    max_runbooks: int = Field(default=2, ge=0, le=10)


class MemoryConfig(StrictModel):
    """Knowledge-graph memory, hybrid recall and the proactive agent (patterns, suggestions)."""

    patterns_file: Path | None = None
    patterns_check_s: float = Field(default=1.0, ge=0, le=3600)
    suggestions: bool = True
    suggestion_interval_s: float = Field(default=900.0, ge=0)
    recall_k: int = Field(default=8, ge=1, le=100)
    min_similarity: float = Field(default=0.5, ge=0, le=1)
    embed_batch_size: int = Field(default=256, ge=1, le=8192)
    embed_delay_s: float = Field(default=0.2, ge=0, le=60)


class Config(StrictModel):
    """The whole configuration tree."""

    matrix: MatrixConfig = Field(default_factory=MatrixConfig)
    hololoom: HololoomConfig = Field(default_factory=HololoomConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    acl: AclConfig = Field(default_factory=AclConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)

    # Where the configuration came from; not a YAML key.
    source: Path | None = Field(default=None, exclude=True)

    @property
    def data_dir(self) -> Path:
        """The directory holding the SQLite file and other state."""
        if self.hololoom.data_dir is not None:
            return Path(self.hololoom.data_dir).expanduser()
        return Path(platformdirs.user_data_dir(APP_NAME))

    @property
    def database_path(self) -> Path:
        """The SQLite file of this installation."""
        return self.data_dir / "hololoom.sqlite3"

    @property
    def mode(self) -> str:
        """`matrix` when Matrix login details are configured, else `offline`."""
        return "matrix" if self.matrix.configured else "offline"


def yaml_line(document: yaml.Node | None, location: tuple[Any, ...]) -> int | None:
    """Return the 1-based line of the YAML node at `location` (keys and indexes), or the nearest parent."""
    node = document
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    found = (key_node, value_node)
                    break
            if found is None:
                return line
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


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
    more = f" (and {len(error.errors()) - 1} more problem(s))" if len(error.errors()) > 1 else ""
    return f"{where}: '{key}' {message}; fix it as config.example.yaml shows{more}"


def _read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """Parse a YAML file into data plus its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; create it from config.example.yaml or drop --config")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc}); check its permissions and encoding")
    try:
        document = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: YAML syntax error ({problem}); check indentation and quoting on that line")
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
