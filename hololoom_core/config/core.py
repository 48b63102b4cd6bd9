"""Core config sections: Matrix, engine, language provider, features, access control, store, answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from hololoom_core.config.base import StrictModel, directory_or_missing, http_url_with_host


class MatrixConfig(StrictModel):
    """How the bot reaches a Matrix homeserver; empty homeserver means no Matrix (offline)."""

    homeserver: str | None = None
    user_id: str | None = None
    access_token: SecretStr | None = None
    password: SecretStr | None = None
    device_id: str | None = None
    rooms: list[str] = Field(default_factory=list)
    # Invites, sync and delivery (hololoom_core/transport/matrix).
    auto_join_users: list[str] = Field(default_factory=list)
    auto_join_servers: list[str] = Field(default_factory=list)
    sync_timeout_ms: int = Field(default=30_000, ge=0, le=300_000)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    backfill_limit: int = Field(default=200, ge=0, le=10_000)
    max_concurrent_answers: int = Field(default=4, ge=1, le=64)
    # Replies.
    answer_threads: Literal["always", "long", "never"] = "long"
    long_answer_chars: int = Field(default=600, ge=0)
    max_message_chars: int = Field(default=16_000, ge=500, le=60_000)
    typing_notifications: bool = True
    read_receipts: bool = True
    reactions: dict[str, int] = Field(
        default_factory=lambda: {"👍": 1, "👍️": 1, "+1": 1, "✅": 1, "👎": -1, "👎️": -1, "-1": -1, "❌": -1}
    )
    # Media.
    max_file_bytes: int = Field(default=10_000_000, ge=0)
    max_indexed_chars: int = Field(default=100_000, ge=0)
    ocr: bool = True
    # End-to-end encryption.
    encryption: bool = True
    e2e_trust: Literal["allowed", "all"] = "allowed"
    e2e_trusted_users: list[str] = Field(default_factory=list)

    @field_validator("reactions")
    @classmethod
    def _reaction_values(cls, value: dict[str, int]) -> dict[str, int]:
        for key, score in value.items():
            if score not in (-1, 1):
                raise ValueError(f"reaction '{key}' must map to 1 or -1, for example '👍': 1")
        return value

    @field_validator("backoff_max_s")
    @classmethod
    def _backoff_cap(cls, value: float, info: Any) -> float:
        initial = info.data.get("backoff_initial_s", 1.0)
        if value < initial:
            raise ValueError(f"must be at least backoff_initial_s ({initial})")
        return value

    @field_validator("homeserver")
    @classmethod
    def _homeserver_is_url(cls, value: str | None) -> str | None:
        return http_url_with_host(value, "https://matrix.example.org") if value else value

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


class BotConfig(StrictModel):
    """The bot's identity on every transport: the name people mention, its display name, commands, admins."""

    name: str = "hololoom"
    display_name: str = "HoloLoom"
    command_prefix: str = "!"
    admins: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_word(cls, value: str) -> str:
        if not value or not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError("must be one word of letters, digits, '-' or '_', for example hololoom")
        return value.lower()

    @field_validator("command_prefix")
    @classmethod
    def _prefix_not_blank(cls, value: str) -> str:
        if not value or value.strip() != value or len(value) > 3:
            raise ValueError("must be 1-3 non-space characters, for example '!'")
        return value


# Keys that moved to the `bot:` section: (old section, old key) -> new key under `bot:`.
MOVED_TO_BOT: dict[tuple[str, str], str] = {
    ("matrix", "display_name"): "display_name",
    ("matrix", "command_prefix"): "command_prefix",
    ("matrix", "admins"): "admins",
    ("hololoom", "bot_name"): "name",
}


class HololoomConfig(StrictModel):
    """Core engine settings: retrieval mode and where data lives."""

    config_mode: Literal["bare", "fast", "fused"] = "fast"
    data_dir: Path | None = None
    screenshot_dir: Path | None = None  # the app's screenshots; default ~/Downloads, else <data dir>/screenshots

    _data_dir_is_directory = field_validator("data_dir")(directory_or_missing)


class LlmConfig(StrictModel):
    """Which language provider answers: the offline engine (default) or an Ollama server."""

    provider: Literal["offline", "ollama"] = "offline"
    host: str = "http://127.0.0.1:11434"
    model: str = "llama3.2"
    judge_model: str | None = None
    embed_model: str = "all-minilm"
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    connect_timeout_s: float = Field(default=3.0, gt=0, le=120)
    temperature: float = Field(default=0.2, ge=0, le=2)

    @field_validator("host")
    @classmethod
    def _host_is_url(cls, value: str) -> str:
        return http_url_with_host(value, "http://127.0.0.1:11434", default_scheme="http")


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
    allow_private: bool = True
    allow_group: bool = True


class AclConfig(StrictModel):
    """Access control: per-command rules keyed by command glob, a default rule, and named permissions."""

    default: AclRule = Field(default_factory=AclRule)
    commands: dict[str, AclRule] = Field(default_factory=dict)
    permissions: dict[str, list[str]] = Field(default_factory=dict)


class StoreConfig(StrictModel):
    """SQLite durability: `full` syncs the write-ahead log on every commit, `normal` at checkpoints."""

    synchronous: Literal["full", "normal"] = "full"


class AnswerConfig(StrictModel):
    """Limits of the answer path: how much context to retrieve and cite."""

    max_sources: int = Field(default=5, ge=0, le=50)
    max_runbooks: int = Field(default=2, ge=0, le=10)
