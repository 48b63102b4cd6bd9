"""What every config module shares: the application name and the strict pydantic base of all sections."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

APP_NAME = "hololoom"
DEFAULT_CONFIG_NAMES = ("config.yaml", "hololoom.yaml")


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
