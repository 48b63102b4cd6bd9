"""Configuration: one pydantic model tree, loaded from YAML, overridden by environment variables.

A missing file means offline defaults. A bad file raises `ConfigError` whose message is one line
naming the file, the key (and its line when known) and the fix.

Layout: `base` (the strict base model), `core`, `promptly`, `ops` and `memory` (the sections),
`tree` (the root `Config`), `errors` (`ConfigError`, YAML line lookup, one-line messages) and
`loading` (finding and reading the file, the environment overlay, `load_config`). Import from
`hololoom_core.config`; every name is re-exported here.
"""

from __future__ import annotations

from hololoom_core.config.base import APP_NAME, DEFAULT_CONFIG_NAMES, StrictModel
from hololoom_core.config.core import (
    AclConfig,
    AclRule,
    AnswerConfig,
    BotConfig,
    FeaturesConfig,
    HololoomConfig,
    LlmConfig,
    MatrixConfig,
    StoreConfig,
)
from hololoom_core.config.errors import ConfigError, yaml_line
from hololoom_core.config.loading import find_config_path, load_config
from hololoom_core.config.memory import MemoryConfig
from hololoom_core.config.ops import (
    DEFAULT_ROLE_INSTRUCTIONS,
    SEVERITIES,
    AnswerCacheConfig,
    IncidentsConfig,
    IncidentTarget,
    OpsConfig,
    ReviewConfig,
    WorkflowsConfig,
    default_incident_targets,
)
from hololoom_core.config.promptly import (
    ExperimentConfig,
    ExperimentsConfig,
    PromptlyConfig,
    VariantConfig,
)
from hololoom_core.config.tree import Config

__all__ = [
    "APP_NAME",
    "DEFAULT_CONFIG_NAMES",
    "DEFAULT_ROLE_INSTRUCTIONS",
    "SEVERITIES",
    "AclConfig",
    "AclRule",
    "AnswerCacheConfig",
    "AnswerConfig",
    "Config",
    "ConfigError",
    "ExperimentConfig",
    "ExperimentsConfig",
    "FeaturesConfig",
    "BotConfig",
    "HololoomConfig",
    "IncidentTarget",
    "IncidentsConfig",
    "LlmConfig",
    "MatrixConfig",
    "MemoryConfig",
    "OpsConfig",
    "PromptlyConfig",
    "ReviewConfig",
    "StoreConfig",
    "StrictModel",
    "VariantConfig",
    "WorkflowsConfig",
    "default_incident_targets",
    "find_config_path",
    "load_config",
    "yaml_line",
]
