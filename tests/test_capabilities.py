"""Typed capabilities: order from declared needs, services by type, slots, and tables a plugin adds."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import ClassVar

import pytest

from hololoom_core.answers.types import AnswerContext, Configuration, QualityForecast, RoutingDecision
from hololoom_core.engine import Engine
from hololoom_core.engine.capabilities import (
    CAPABILITIES,
    Capability,
    CapabilityError,
    CapabilityMissing,
    default_capabilities,
    load_capability,
    resolve_order,
)
from hololoom_core.events import EngineError
from hololoom_core.memory.retriever import MemoryMessageSearch
from hololoom_core.memory.service import MemoryService
from hololoom_core.models import Source
from hololoom_core.ops.commands.plugins import PluginReport
from hololoom_core.ops.incidents.service import IncidentService
from tests.ops.ops_helpers import make_config, reply_text, sayer


class Named(Capability):
    """A capability for ordering tests, named and given needs per instance."""

    installed: ClassVar[list[str]] = []

    def __init__(self, name: str, needs: tuple[str, ...] = (), after: tuple[str, ...] = ()) -> None:
        # Real capabilities declare these as class attributes (ClassVar); these test ones differ per instance.
        self.name = name  # type: ignore[misc]
        self.needs = needs  # type: ignore[misc]
        self.after = after  # type: ignore[misc]

    def install(self, engine: Engine) -> None:
        Named.installed.append(self.name)


def names(capabilities: list[Capability]) -> list[str]:
    return [capability.name for capability in capabilities]


def test_order_comes_from_needs_not_list_position() -> None:
    given = [Named("plugins", after=("*",)), Named("answers", needs=("memory", "promptly")), Named("promptly"),
             Named("memory", needs=("store",)), Named("store")]
    ordered = names(resolve_order(given))
    assert ordered.index("store") < ordered.index("memory") < ordered.index("answers")
    assert ordered.index("promptly") < ordered.index("answers")
    assert ordered[-1] == "plugins"
    for _ in range(5):  # any list order gives an order that satisfies every need
        shuffled = given[:]
        random.shuffle(shuffled)
        again = names(resolve_order(shuffled))
        assert again.index("store") < again.index("memory") < again.index("answers") and again[-1] == "plugins"


def test_a_missing_or_cyclic_need_is_one_clear_error() -> None:
    with pytest.raises(CapabilityError, match="capability 'agents' needs 'memory', which is not installed"):
        resolve_order([Named("agents", needs=("memory",))])
    with pytest.raises(CapabilityError, match="need each other in a cycle: .*a.*b"):
        resolve_order([Named("a", needs=("b",)), Named("b", needs=("a",))])
    with pytest.raises(CapabilityError, match="two capabilities are named 'memory'"):
        resolve_order([Named("memory"), Named("memory")])
    with pytest.raises(CapabilityError, match="cannot load capability 'nowhere.module:Thing'"):
        load_capability("nowhere.module:Thing")


def test_the_default_set_is_sorted_and_the_plugins_come_last() -> None:
    ordered = names(default_capabilities())
    assert sorted(ordered) == sorted(load_capability(spec).name for spec in CAPABILITIES)
    assert ordered[-1] == "plugins"


async def test_services_are_fetched_by_type(tmp_path: Path) -> None:
    full = Engine(make_config(tmp_path / "full"))
    bare = Engine(make_config(tmp_path / "bare"), capabilities=[])
    try:
        assert isinstance(full.capability(MemoryService), MemoryService)
        assert full.capability(IncidentService) is full.find_capability(IncidentService)
        assert bare.find_capability(MemoryService) is None
        with pytest.raises(CapabilityMissing, match="no installed capability provides MemoryService"):
            bare.capability(MemoryService)
        assert full.installed("memory") and not bare.installed("memory")
        assert "memory_nodes" in {row[0] for row in full.store.query("SELECT name FROM sqlite_master")}
        assert "memory_nodes" not in {row[0] for row in bare.store.query("SELECT name FROM sqlite_master")}
    finally:
        await full.close()
        await bare.close()


TABLE_PLUGIN = """\
from hololoom_core.engine.commands import Arg

MIGRATIONS = {"deploy_log": ["CREATE TABLE deploy_log (id INTEGER PRIMARY KEY, service TEXT NOT NULL)"]}


def install(engine):
    @engine.commands.command("deployed", help="Record a deploy.", args=[Arg("service")])
    async def deployed(context):
        with engine.store.transaction() as conn:
            conn.execute("INSERT INTO deploy_log(service) VALUES (?)", (context.params["service"],))
        count = engine.store.scalar("SELECT count(*) FROM deploy_log")
        return f"{count} deploy(s) recorded"
"""


async def test_a_plugin_adds_a_table_and_uses_it(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "deploys.py").write_text(TABLE_PLUGIN)
    config = make_config(tmp_path, ops={"plugins_dir": str(plugins), "entry_point_plugins": False})
    engine = Engine(config)
    try:
        assert list(engine.capability(PluginReport).loaded) == ["deploys"]
        assert engine.store.schema_versions()["deploy_log"] == 1
        say = sayer(engine)
        assert reply_text(await say("alice", "!deployed api")) == "1 deploy(s) recorded"
        assert reply_text(await say("alice", "!deployed web")) == "2 deploy(s) recorded"
    finally:
        await engine.close()
    reopened = Engine(config)  # the table and its rows survive a restart; the migration does not run twice
    try:
        assert [row[0] for row in reopened.store.query("SELECT service FROM deploy_log ORDER BY id")] == ["api", "web"]
        assert reply_text(await sayer(reopened)("bob", "!deployed db")) == "3 deploy(s) recorded"
    finally:
        await reopened.close()
    raw = sqlite3.connect(config.database_path)
    try:
        assert raw.execute("SELECT version FROM schema_version WHERE component = 'deploy_log'").fetchone() == (1,)
    finally:
        raw.close()


async def test_a_plugin_cannot_take_over_a_capabilitys_tables(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "thief.py").write_text('MIGRATIONS = {"memory": ["CREATE TABLE stolen (id INTEGER)"]}\n'
                                      "def install(engine):\n    pass\n")
    engine = Engine(make_config(tmp_path, ops={"plugins_dir": str(plugins), "entry_point_plugins": False}))
    try:
        report = engine.capability(PluginReport)
        assert report.loaded == {}
        assert len(report.problems) == 1 and "different migrations for table group 'memory'" in report.problems[0]
        assert "stolen" not in {row[0] for row in engine.store.query("SELECT name FROM sqlite_master")}
    finally:
        await engine.close()


class Glossary:
    """A retriever stage that adds one glossary entry for questions about SLOs."""

    name = "glossary"

    def retrieve(self, context: AnswerContext, configuration: Configuration, found: list[Source]) -> list[Source]:
        if "slo" not in context.question.lower():
            return []
        return [Source(kind="glossary", ref="slo", title="SLO", excerpt="service level objective", score=1.0)]


class Dropper:
    """A reranker that breaks the rule: it drops every source but the first."""

    name = "dropper"

    def rerank(self, context: AnswerContext, configuration: Configuration, sources: list[Source]) -> list[Source]:
        return sources[:1]


class Reverser:
    """A reranker that follows the rule: same sources, reversed."""

    name = "reverser"

    def rerank(self, context: AnswerContext, configuration: Configuration, sources: list[Source]) -> list[Source]:
        return list(reversed(sources))


class Forecaster:
    """A quality predictor: longer questions, higher forecast."""

    def predict(self, context: AnswerContext, decision: RoutingDecision) -> QualityForecast:
        words = len(context.question.split())
        return QualityForecast(min(1.0, 0.1 * words), f"{words} words, agent {decision.agent}")


class AnswerSlots(Capability):
    """Fills the retriever chain, a reranker and the quality predictor, as a later capability would."""

    name = "answer-slots"
    needs = ("memory",)

    def install(self, engine: Engine) -> None:
        engine.answer_path.retrievers.add(Glossary(), before="runbooks")
        engine.answer_path.quality_predictor = Forecaster()


async def test_retrievers_compose_in_a_chain(tmp_path: Path) -> None:
    specs: list[Capability | str] = [*CAPABILITIES, AnswerSlots()]
    engine = Engine(make_config(tmp_path), capabilities=specs)
    errors: list[EngineError] = []
    engine.bus.subscribe(lambda event: errors.append(event) if isinstance(event, EngineError) else None)
    try:
        chain = engine.answer_path.retrievers
        assert [stage.name for stage in chain.stages] == ["room-context", "glossary", "runbooks", "messages"]
        assert isinstance(engine.answer_path.message_search, MemoryMessageSearch)  # memory fills the search slot
        say = sayer(engine)
        await say("bob", "The checkout SLO burned 5% of its error budget after the payments deploy")
        context = AnswerContext("what happened to the checkout SLO error budget?", room_id="#ops")
        sources = chain.retrieve(context, Configuration())
        kinds = [source.kind for source in sources]
        assert "glossary" in kinds and "message" in kinds  # every stage kept its sources
        assert len({source.message_id for source in sources if source.kind == "message"}) == kinds.count("message")
        chain.add_reranker(Dropper())
        assert chain.retrieve(context, Configuration()) == sources
        assert any("dropper added or dropped sources" in event.error for event in errors)
        chain.add_reranker(Reverser())
        assert chain.retrieve(context, Configuration()) == list(reversed(sources))
        answer = await engine.ask("what happened to the checkout SLO error budget?", room_id="#ops")
        assert answer.loop_steps[0]["step"] == "predict"
        assert answer.loop_steps[0]["quality"] == pytest.approx(0.8)  # 8 words, forecast before retrieval
        assert answer.details["prediction"]["predicted_quality"] == pytest.approx(0.8)
        assert answer.details["routing"]["agent"] == "generalist"
        stored = engine.interactions.get(answer.interaction_id or 0)
        assert stored is not None and stored.details["routing"]["decided_by"] == "default"
    finally:
        await engine.close()


async def test_a_failing_stage_costs_only_its_own_sources(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def retrieve(self, context: AnswerContext, configuration: Configuration, found: list[Source]) -> list[Source]:
            raise RuntimeError("index offline")

    engine = Engine(make_config(tmp_path))
    try:
        engine.answer_path.retrievers.add(Broken(), before="runbooks")
        sources = engine.answer_path.retrievers.retrieve(AnswerContext("disk is full on db-1"), Configuration())
        assert [source.kind for source in sources][:1] == ["runbook"]
        with pytest.raises(ValueError, match="already in the chain"):
            engine.answer_path.retrievers.add(Broken())
    finally:
        await engine.close()
