"""Plugs memory into the engine: keeper, detector, insight store, suggester, commands, message search, bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.capabilities import Capability
from hololoom_core.memory.commands import install_commands
from hololoom_core.memory.detectors import ProactiveDetector
from hololoom_core.memory.retriever import MemoryMessageSearch
from hololoom_core.memory.schema import MEMORY_V1
from hololoom_core.memory.service import MemoryService
from hololoom_core.memory.suggest import IncidentSuggester
from hololoom_core.models import Insight

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class MemoryCapability(Capability):
    """The knowledge graph, hybrid recall, tracked items and proactive notices; provides `MemoryService`."""

    name = "memory"
    migrations = {"memory": [MEMORY_V1]}

    def install(self, engine: Engine) -> None:
        """Build the memory service and register it in the engine's slots."""
        memory = MemoryService(engine)
        engine.provide(memory)
        engine.shutdown_hooks.append(memory.close)  # stops the embedding worker before the store closes
        engine.warmup_hooks.append(memory.warm_up)  # load the embedding model before the first question
        engine.keepers.append(memory.keep)
        engine.detectors.append(ProactiveDetector(memory, engine.names_bot, engine.config.bot.command_prefix))
        base_store = engine.insight_store

        def store_insights(insights: list[Insight]) -> list[Insight]:
            return memory.store_insights(base_store, insights)

        engine.insight_store = store_insights
        engine.suggesters.append(IncidentSuggester(memory))
        install_commands(engine, memory)
        engine.answer_path.message_search = MemoryMessageSearch(memory, engine.config.memory.min_similarity)
        engine.bus.subscribe(memory.on_event)
