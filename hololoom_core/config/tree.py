"""The root of the configuration tree: every section under one `Config`, plus the paths derived from it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, PrivateAttr, model_validator

from hololoom_core.config.base import APP_NAME, StrictModel
from hololoom_core.config.core import (
    MOVED_TO_BOT,
    AclConfig,
    AnswerConfig,
    BotConfig,
    FeaturesConfig,
    HololoomConfig,
    LlmConfig,
    MatrixConfig,
    StoreConfig,
)
from hololoom_core.config.learning import LearningConfig
from hololoom_core.config.marketplace import MarketplaceConfig
from hololoom_core.config.memory import MemoryConfig
from hololoom_core.config.ops import OpsConfig, ReviewConfig, WorkflowsConfig
from hololoom_core.config.promptly import PromptlyConfig
from hololoom_core.config.quality import QualityConfig

log = logging.getLogger(__name__)


class Config(StrictModel):
    """The whole configuration tree."""

    bot: BotConfig = Field(default_factory=BotConfig)
    matrix: MatrixConfig = Field(default_factory=MatrixConfig)
    hololoom: HololoomConfig = Field(default_factory=HololoomConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    acl: AclConfig = Field(default_factory=AclConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    promptly: PromptlyConfig = Field(default_factory=PromptlyConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    workflows: WorkflowsConfig = Field(default_factory=WorkflowsConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    marketplace: MarketplaceConfig = Field(default_factory=MarketplaceConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)

    # Where the configuration came from: set by the loader, never from a file (`source:` is an unknown key).
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file this configuration was loaded from (None for built-in defaults)."""
        return self._source

    @source.setter
    def source(self, value: Path | None) -> None:
        self._source = value

    @model_validator(mode="before")
    @classmethod
    def _move_bot_keys(cls, data: Any) -> Any:
        """Accept the old places of the bot's identity (`matrix.command_prefix` ...) with a one-line notice."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for (section, key), new_key in MOVED_TO_BOT.items():
            old = data.get(section)
            if not isinstance(old, dict) or key not in old:
                continue
            old = data[section] = dict(old)
            value = old.pop(key)
            bot = data.get("bot")
            bot = data["bot"] = dict(bot) if isinstance(bot, dict) else {}
            if new_key in bot:
                log.warning("config: %s.%s is deprecated and ignored (bot.%s is set)", section, key, new_key)
            else:
                bot[new_key] = value
                log.warning("config: %s.%s is deprecated; move it to bot.%s", section, key, new_key)
        return data

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
    def plugins_dir(self) -> Path:
        """Where Python command plugins are looked for (`ops.plugins_dir`, default `<data dir>/plugins`)."""
        return Path(self.ops.plugins_dir).expanduser() if self.ops.plugins_dir else self.data_dir / "plugins"

    @property
    def aliases_dir(self) -> Path:
        """Where YAML command aliases are looked for (`ops.aliases_dir`, default `<data dir>/aliases`)."""
        return Path(self.ops.aliases_dir).expanduser() if self.ops.aliases_dir else self.data_dir / "aliases"

    @property
    def mode(self) -> str:
        """`matrix` when Matrix login details are configured, else `offline`."""
        return "matrix" if self.matrix.configured else "offline"
