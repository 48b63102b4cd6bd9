"""Plugs memory into the engine: the analysis (the engine's notice step), suggester, commands, retriever, bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.answering import KeywordRetriever
from hololoom_core.memory import schema as _schema  # noqa: F401  (registers the memory migrations)
from hololoom_core.memory.commands import install_commands
from hololoom_core.memory.retriever import MemoryRetriever
from hololoom_core.memory.service import MemoryService
from hololoom_core.memory.suggest import IncidentSuggester

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


def install(engine: Engine) -> None:
    """Build the memory service and register it in the engine's registries."""
    memory = MemoryService(engine)
    engine.extensions["memory"] = memory
    engine.shutdown_hooks.append(memory.close)  # stops the embedding worker before the store closes
    engine.warmup_hooks.append(memory.warm_up)  # load the embedding model before the first question
    # The engine's notice step analyses through memory: entities, graph, detectors (its own and any other
    # registered detector), insights and tracked items, in batches behind a durable watermark.
    engine.detectors.append(memory.analysis.detector)
    engine.analysis = memory.analysis
    engine.startup_hooks.append(memory.analysis.catch_up_async)  # what a crash left unanalysed
    engine.suggesters.append(IncidentSuggester(memory))
    install_commands(engine, memory)
    base = engine.answer_path.retriever
    if not isinstance(base, KeywordRetriever):
        base = KeywordRetriever(engine.runbooks, engine.messages, max_runbooks=engine.config.answer.max_runbooks,
                                max_messages=engine.config.answer.max_sources)
    engine.answer_path.retriever = MemoryRetriever(memory, base, engine.config.memory.min_similarity)
    engine.bus.subscribe(memory.on_event)
