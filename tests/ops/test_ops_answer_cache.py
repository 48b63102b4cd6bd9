"""The answer cache: hits, misses, invalidation when the retrieved context changes, TTL, persistence."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from hololoom_core.clock import Clock
from hololoom_core.engine import Engine
from hololoom_core.llm.base import AnswerRequest, ProviderStatus
from hololoom_core.llm.runbooks import RunbookLibrary
from hololoom_core.models import Answer
from hololoom_core.ops.answer_cache import AnswerCache, normalise_question
from tests.ops.ops_helpers import make_config, sayer

QUESTION = "disk is full on db-1, what should I check?"


class SettableClock(Clock):
    """Wall time the test sets; monotonic time stays real."""

    def __init__(self, now: float = 1_764_072_000.0) -> None:
        self.current = now

    def now(self) -> float:
        return self.current


class DownProvider:
    """A language provider whose server is unreachable (as the Ollama client reports it)."""

    name = "ollama"
    is_language_model = True

    async def answer(self, request: AnswerRequest, on_delta: object = None) -> str:
        raise ConnectionError("Failed to connect to Ollama")

    async def status(self) -> ProviderStatus:
        return ProviderStatus("ollama", False, "unreachable")


def was_hit(answer: Answer) -> bool:
    return {"step": "cache", "hit": True} in answer.loop_steps


def test_normalised_questions() -> None:
    assert normalise_question("  Disk is FULL on db-1.prod, what should I check?? ") == \
        "disk is full on db-1.prod what should i check"
    assert normalise_question("disk is full on db-1 — what should I check") == \
        normalise_question("Disk is full on db-1, what should I check?")
    assert normalise_question("why 502?") != normalise_question("why 503?")


async def test_hit_miss_and_invalidation_when_context_changes(engine: Engine) -> None:
    cache = engine.capability(AnswerCache)
    first = await engine.ask(QUESTION)
    assert not was_hit(first)
    second = await engine.ask("Disk is full on db-1 - what should I check")
    assert was_hit(second) and second.markdown == first.markdown and second.quality == first.quality
    assert [s.ref for s in second.sources] == [s.ref for s in first.sources]
    assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1

    # Someone says something the retriever will bring back for this question: the context changed.
    await sayer(engine)("carol", "disk full on db-1 again: /var/log/app is 40G, logrotate stopped")
    third = await engine.ask(QUESTION)
    assert not was_hit(third)
    assert any(source.kind == "message" for source in third.sources)
    stats = cache.stats()
    assert stats["invalidated"] == 1 and stats["miss_reasons"] == {"new": 1, "context changed": 1}
    assert was_hit(await engine.ask(QUESTION))  # the refreshed entry serves the next asker

    # Earlier askings of the same question are retrieved as messages, but they are not new context.
    say = sayer(engine)
    await say("eve", f"@hololoom {QUESTION}")
    dave = await say("dave", f"@hololoom {QUESTION}")
    assert any(source.excerpt.endswith(QUESTION) for source in dave.replies[0].answer.sources)
    assert was_hit(dave.replies[0].answer) and cache.stats()["hits"] == 4


async def test_ttl_expiry(tmp_path: Path) -> None:
    clock = SettableClock()
    engine = Engine(make_config(tmp_path, ops={"answer_cache": {"ttl_s": 60}}), clock=clock)
    try:
        await engine.ask(QUESTION)
        clock.current += 30
        assert was_hit(await engine.ask(QUESTION))
        clock.current += 61
        assert not was_hit(await engine.ask(QUESTION))
        assert engine.capability(AnswerCache).stats()["expired"] == 1
        clock.current += 10
        assert was_hit(await engine.ask(QUESTION))
    finally:
        await engine.close()


async def test_persisted_across_restarts_and_invalidated_by_a_runbook_edit(tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    shutil.copytree(Path(str(resources.files("hololoom_core.llm") / "runbooks")), runbooks)
    config = make_config(tmp_path)

    lifetime: list[tuple[int, int]] = []

    async def ask_once() -> bool:
        engine = Engine(config, runbooks=RunbookLibrary.from_directory(runbooks))
        try:
            hit = was_hit(await engine.ask(QUESTION))
            stats = engine.capability(AnswerCache).stats()
            lifetime.append((stats["lifetime_hits"], stats["lifetime_lookups"]))
            return hit
        finally:
            await engine.close()

    assert not await ask_once()
    assert await ask_once()  # a new process (like `hololoom ask`) hits the stored entry
    disk_full = runbooks / "disk-full.yaml"
    disk_full.write_text(disk_full.read_text().replace("remediation:", "remediation:\n  - Page the storage team.", 1))
    assert not await ask_once()
    assert await ask_once()
    assert lifetime == [(0, 1), (1, 2), (1, 3), (2, 4)]  # counted from the recorded interactions


async def test_fallback_answers_and_low_quality_are_not_cached(tmp_path: Path) -> None:
    engine = Engine(make_config(tmp_path), provider=DownProvider())
    try:
        first = await engine.ask(QUESTION)
        assert first.provider == "offline"  # answered by the fallback
        assert not was_hit(await engine.ask(QUESTION))
        assert engine.capability(AnswerCache).stats()["entries"] == 0
    finally:
        await engine.close()
    strict = Engine(make_config(tmp_path / "strict", ops={"answer_cache": {"min_quality": 1.0}}))
    try:
        answer = await strict.ask("how do I fix a cert that expires tomorrow?")
        assert answer.quality < 1.0
        assert not was_hit(await strict.ask("how do I fix a cert that expires tomorrow?"))
    finally:
        await strict.close()


async def test_size_limit_and_switching_off(tmp_path: Path) -> None:
    engine = Engine(make_config(tmp_path, ops={"answer_cache": {"max_entries": 2}}))
    try:
        for question in ("disk is full", "certificate expired", "dns resolution fails"):
            await engine.ask(question)
        assert engine.capability(AnswerCache).stats()["entries"] == 2
        assert not was_hit(await engine.ask("disk is full"))  # the oldest entry was dropped
        assert was_hit(await engine.ask("dns resolution fails"))
    finally:
        await engine.close()
    off = Engine(make_config(tmp_path / "off", ops={"answer_cache": {"enabled": False}}))
    try:
        assert off.answer_path.cache is None and AnswerCache not in off.services
        await off.ask(QUESTION)
        assert not was_hit(await off.ask(QUESTION))
    finally:
        await off.close()
