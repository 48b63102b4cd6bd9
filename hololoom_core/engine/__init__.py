"""The engine: the one message pipeline and the registries capabilities plug into."""

from __future__ import annotations

from hololoom_core.engine.capabilities import CAPABILITIES, Capability, CapabilityError, CapabilityMissing
from hololoom_core.engine.pipeline import Engine

__all__ = ["CAPABILITIES", "Capability", "CapabilityError", "CapabilityMissing", "Engine"]
