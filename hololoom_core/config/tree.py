"""The root of the configuration tree: every section under one `Config`, plus the paths derived from it."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field

from hololoom_core.config.base import APP_NAME, StrictModel
from hololoom_core.config.core import (
    AclConfig,
    AnswerConfig,
    FeaturesConfig,
    HololoomConfig,
    LlmConfig,
    MatrixConfig,
    StoreConfig,
)
from hololoom_core.config.memory import MemoryConfig
from hololoom_core.config.ops import OpsConfig, ReviewConfig, WorkflowsConfig
from hololoom_core.config.promptly import PromptlyConfig


class Config(StrictModel):
    """The whole configuration tree."""

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
