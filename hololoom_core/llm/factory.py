"""Builds the configured language provider, falling back to the offline engine."""

from __future__ import annotations

import logging

from hololoom_core.config import Config
from hololoom_core.llm.base import LanguageProvider
from hololoom_core.llm.offline import OfflineAnswerEngine

log = logging.getLogger(__name__)


def build_provider(config: Config, offline: OfflineAnswerEngine) -> LanguageProvider:
    """The provider named by `llm.provider`; the offline engine when that is `offline`."""
    if config.llm.provider == "ollama":
        from hololoom_core.llm.ollama_provider import OllamaProvider

        return OllamaProvider(config.llm)
    return offline
