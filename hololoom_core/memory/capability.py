"""Plugs memory into the engine: the analysis slot (the engine's notice step), suggester, commands, search, bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.capabilities import Capability
from hololoom_core.memory.commands import install_commands
from hololoom_core.memory.retriever import MemoryMessageSearch
from hololoom_core.memory.schema import MEMORY_V1, MEMORY_V2
from hololoom_core.memory.service import MemoryService
from hololoom_core.memory.suggest import IncidentSuggester

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class MemoryCapability(Capability):
    """The knowledge graph, hybrid recall, tracked items and proactive notices; provides `MemoryService`."""

    name = "memory"
    migrations = {"memory": [MEMORY_V1, MEMORY_V2]}

    def install(self, engine: Engine) -> None:
        """Build the memory service and register it in the engine's slots."""
        memory = MemoryService(engine)
        engine.provide(memory)
        engine.shutdown_hooks.append(memory.close)  # stops the embedding worker before the store closes
        engine.warmup_hooks.append(memory.warm_up)  # load the embedding model before the first question
        # The engine's analysis slot: entities, graph, detectors (memory's own and every registered one),
        # insights and tracked items, in batches behind a durable watermark.
        engine.analysis = memory.analysis
        engine.startup_hooks.append(memory.analysis.catch_up_async)  # what a crash left unanalysed
        engine.suggesters.append(IncidentSuggester(memory))
        install_commands(engine, memory)
        engine.answer_path.message_search = MemoryMessageSearch(memory, engine.config.memory.min_similarity)
        engine.bus.subscribe(memory.on_event)
