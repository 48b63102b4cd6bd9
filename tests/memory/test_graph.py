"""The knowledge graph: nodes and edges with provenance, durable across restarts, forgotten on redaction."""

from __future__ import annotations

from collections.abc import Callable

from hololoom_core.engine import Engine
from hololoom_core.events import MessageChanged
from hololoom_core.memory.graph import message_key
from hololoom_core.memory.service import MemoryService
from tests.memory.conftest import say


async def test_message_adds_nodes_and_edges_with_provenance(engine: Engine) -> None:
    result = await say(engine, "alice", "checkout-api throws 502 on web-03.prod since 3f9a2c1, @bob look",
                       thread="t-1")
    message = result.message
    assert message is not None
    graph = engine.capability(MemoryService).graph
    key = message_key(message.id)
    node = graph.node(key)
    assert node is not None and node["message_id"] == message.id and node["event_id"] == message.event_id
    relations = {(e["relation"], e["dst"]) for e in graph.edges(key) if e["src"] == key}
    assert ("authored_by", "user:alice") in relations
    assert ("in_room", "room:#ops") in relations
    assert ("in_thread", "thread:t-1") in relations
    for entity in ("service:checkout-api", "http_status:502", "host:web-03.prod", "commit:3f9a2c1", "person:bob"):
        assert ("mentions", entity) in relations
        entity_node = graph.node(entity)
        assert entity_node is not None and entity_node["message_id"] == message.id
    for edge in graph.edges(key):
        assert edge["message_id"] == message.id and edge["event_id"] == message.event_id
        assert edge["ts"] == message.ts
    service = graph.graph.nodes["service:checkout-api"]
    assert service["kind"] == "service" and service["mentions"] == 1


async def test_graph_survives_a_restart(engine_factory: Callable[..., Engine]) -> None:
    first = engine_factory("bare")
    await say(first, "alice", "ledger-worker OOMKilled on batch-02.prod")
    await say(first, "bob", "ledger-worker again, INC-77")
    before = first.capability(MemoryService).graph.graph
    nodes, edges = dict(before.nodes(data=True)), sorted((u, v, k) for u, v, k in before.edges(keys=True))
    await first.close()
    second = engine_factory("bare")
    after = second.capability(MemoryService).graph.graph
    assert dict(after.nodes(data=True)) == nodes
    assert sorted((u, v, k) for u, v, k in after.edges(keys=True)) == edges
    assert after.nodes["service:ledger-worker"]["mentions"] == 2
    await second.close()


async def test_redaction_removes_the_message_content_from_the_graph(engine: Engine) -> None:
    memory = engine.capability(MemoryService)
    keep = await say(engine, "alice", "payments-api is slow on db-07.prod")
    gone = await say(engine, "bob", "Decision: rotate the key for payments-api and vault-proxy on db-09.prod")
    assert gone.message is not None and keep.message is not None
    assert memory.graph.graph.number_of_nodes() > 0  # build the networkx view so the test covers it too
    assert memory.items.for_message(gone.message.id)
    assert memory.forget_message(gone.message.id)
    graph = memory.graph
    assert graph.node(message_key(gone.message.id)) is None
    assert graph.node("host:db-09.prod") is None and graph.node("service:vault-proxy") is None
    shared = graph.node("service:payments-api")
    assert shared is not None and shared["mentions"] == 1 and shared["message_id"] == keep.message.id
    rows = engine.store.query("SELECT count(*) FROM memory_edges WHERE message_id = ?", (gone.message.id,))
    assert rows[0][0] == 0
    assert memory.items.for_message(gone.message.id) == []
    assert engine.store.scalar("SELECT count(*) FROM insights WHERE message_id = ?", (gone.message.id,)) == 0
    stored = engine.messages.get(gone.message.id)
    assert stored is not None and stored.redacted and stored.body == ""
    assert "vault-proxy" not in str(dict(graph.graph.nodes(data=True)))
    assert message_key(gone.message.id) not in graph.graph


async def test_message_changed_events_forget_and_reindex(engine: Engine) -> None:
    memory = engine.capability(MemoryService)
    edited = await say(engine, "alice", "search-api is fine")
    redacted = await say(engine, "alice", "token for cart-api is in the vault")
    assert edited.message is not None and redacted.message is not None
    engine.messages.update_body(edited.message.id, "search-api returns 500s, we decided to roll back", 5.0)
    edited_row = engine.messages.get(edited.message.id)
    assert edited_row is not None
    engine.bus.publish(MessageChanged(edited_row, "edited"))
    assert memory.graph.node("http_status:500") is not None
    assert [i.kind for i in memory.items.for_message(edited.message.id)] == ["decision"]
    engine.messages.redact(redacted.message.id)
    redacted_row = engine.messages.get(redacted.message.id)
    assert redacted_row is not None
    engine.bus.publish(MessageChanged(redacted_row, "redacted"))
    assert memory.graph.node("service:cart-api") is None
    assert memory.graph.node(message_key(redacted.message.id)) is None
