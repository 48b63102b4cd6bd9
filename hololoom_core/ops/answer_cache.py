"""The answer cache (`engine.answer_path.cache`): reuse an answer while its question and context are unchanged.

Key: the normalised question plus the configuration (name and parameters). Each entry also keeps
a hash of the retrieved context — every source's kind, ref and text (a runbook's full text) — so
when retrieval brings back different or edited context for the same question, the entry is
invalidated and the question answered afresh. Entries expire after `ops.answer_cache.ttl_s`;
the table keeps at most `max_entries` (oldest dropped).

Persisted in SQLite (the `answer_cache` table), not in memory, because the CLI (`hololoom ask`,
`hololoom say`) runs a new process per question and would never hit an in-memory cache; a lookup
is one indexed primary-key read and writes nothing (see `bench/ops_figures.py`). The lifetime hit
rate is counted from the recorded interactions (a hit is a `cache` loop step) since the cache was
first enabled, so lookups cost no extra commit.
Answers produced while the language provider failed (a fallback) are never cached, nor are
answers judged below `min_quality`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hololoom_core.answers.types import AnswerContext, Configuration, LoopResult
from hololoom_core.config import AnswerCacheConfig
from hololoom_core.engine.arguments import Arg
from hololoom_core.engine.capabilities import Capability
from hololoom_core.engine.commands import CommandContext
from hololoom_core.models import CriterionScore, Source, Verdict

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

ANSWER_CACHE_V1 = """
CREATE TABLE answer_cache (
    key           TEXT PRIMARY KEY,
    question      TEXT NOT NULL,
    configuration TEXT NOT NULL,
    context_hash  TEXT NOT NULL,
    result        TEXT NOT NULL,
    created_ts    REAL NOT NULL
);
CREATE INDEX answer_cache_created ON answer_cache(created_ts);
CREATE TABLE answer_cache_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"""
CACHE_HIT_STEP = '%"step": "cache", "hit": true%'  # how the answer path records a hit in loop_steps

_KEEP = re.compile(r"[^a-z0-9_./:\-\s]+")


def normalise_question(question: str) -> str:
    """Lower-case, punctuation dropped (not `.`, `/`, `:`, `-`, `_` inside names), whitespace collapsed."""
    lowered = _KEEP.sub(" ", question.lower())
    words = [word.strip(".:-") for word in lowered.split()]
    return " ".join(word for word in words if word)


@dataclass(slots=True)
class CacheCounters:
    """Lookups since the engine started: hits, misses and why entries were dropped."""

    hits: int = 0
    misses: int = 0
    invalidated: int = 0
    expired: int = 0
    stored: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def lookups(self) -> int:
        """Hits plus misses."""
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float | None:
        """Hits per lookup, or None before the first lookup."""
        return self.hits / self.lookups if self.lookups else None


def _result_to_json(result: LoopResult) -> str:
    return json.dumps({
        "text": result.text,
        "sections": result.sections,
        "provider": result.provider,
        "loop_steps": result.loop_steps,
        "verdict": {
            "score": result.verdict.score,
            "judge": result.verdict.judge,
            "criteria": [[c.name, c.score, c.reason, c.weight] for c in result.verdict.criteria],
        },
    })


def _result_from_json(text: str) -> LoopResult:
    data = json.loads(text)
    verdict = data["verdict"]
    return LoopResult(
        text=data["text"],
        sections=dict(data["sections"]),
        verdict=Verdict(verdict["score"], [CriterionScore(*item) for item in verdict["criteria"]], verdict["judge"]),
        provider=data["provider"],
        loop_steps=list(data["loop_steps"]),
        cached=True,
    )


class AnswerCache:
    """Implements the `AnswerCache` protocol of the answer path on a SQLite table."""

    def __init__(self, engine: Engine, config: AnswerCacheConfig) -> None:
        self.engine = engine
        self.config = config
        self.counters = CacheCounters()
        store = engine.store
        with store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO answer_cache_meta(name, value) VALUES ('enabled_since', ?)",
                         (repr(engine.clock.now()),))
        since = float(store.scalar("SELECT value FROM answer_cache_meta WHERE name = 'enabled_since'"))
        self.earlier_lookups = int(store.scalar("SELECT count(*) FROM interactions WHERE created_ts >= ?",
                                                (since,)) or 0)
        self.earlier_hits = int(store.scalar(
            "SELECT count(*) FROM interactions WHERE created_ts >= ? AND loop_steps LIKE ?",
            (since, CACHE_HIT_STEP)) or 0)

    # -- keys --------------------------------------------------------------------------------

    @staticmethod
    def key(context: AnswerContext, configuration: Configuration) -> tuple[str, str, str]:
        """(key, normalised question, configuration label) for a question."""
        question = normalise_question(context.question)
        label = configuration.name + (json.dumps(configuration.params, sort_keys=True, default=str)
                                      if configuration.params else "")
        return hashlib.sha256(f"{question}\x00{label}".encode()).hexdigest(), question, label

    def context_hash(self, sources: list[Source], question: str = "") -> str:
        """A hash of the retrieved context: each source's kind, ref and text (order does not matter).

        An earlier message that is the same question asked again is left out: it adds no context,
        and counting it would invalidate the entry every time someone repeats the question.
        """
        parts = []
        for source in sources:
            text = source.excerpt
            if source.kind == "message" and question and \
                    normalise_question(self.engine.strip_mention(text)) == question:
                continue
            if source.kind == "runbook":
                runbook = self.engine.runbooks.get(source.ref)
                if runbook is not None:
                    text = runbook.text + "\x00" + runbook.escalate
            parts.append(f"{source.kind}\x00{source.ref}\x00{text}")
        digest = hashlib.sha256()
        for part in sorted(parts):
            digest.update(part.encode())
            digest.update(b"\x01")
        return digest.hexdigest()

    # -- the protocol ------------------------------------------------------------------------

    def get(self, context: AnswerContext, sources: list[Source], configuration: Configuration) -> LoopResult | None:
        """A still-valid cached result (same question, configuration and context, within the TTL), or None."""
        key, question, _label = self.key(context, configuration)
        store = self.engine.store
        row = store.query_one("SELECT context_hash, result, created_ts FROM answer_cache WHERE key = ?", (key,))
        now = self.engine.clock.now()
        if row is None:
            self._count_miss("new")
            return None
        if now - row["created_ts"] > self.config.ttl_s:
            self._drop(key)
            self.counters.expired += 1
            self._count_miss("expired")
            return None
        if row["context_hash"] != self.context_hash(sources, question):
            self._drop(key)
            self.counters.invalidated += 1
            self._count_miss("context changed")
            return None
        try:
            result = _result_from_json(row["result"])
        except (KeyError, TypeError, ValueError):
            self._drop(key)
            self._count_miss("unreadable")
            return None
        self.counters.hits += 1
        return result

    def put(self, context: AnswerContext, sources: list[Source], configuration: Configuration,
            result: LoopResult) -> None:
        """Remember a result, unless it came from a provider failure or was judged below `min_quality`."""
        if result.cached:
            return
        fallback = result.provider != self.engine.answer_path.provider.name  # the configured provider did not answer
        if fallback or any("error" in step for step in result.loop_steps) or result.verdict.score < self.config.min_quality:
            self.counters.skipped += 1
            return
        key, question, label = self.key(context, configuration)
        with self.engine.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO answer_cache(key, question, configuration, context_hash, result, created_ts) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, question, label, self.context_hash(sources, question), _result_to_json(result),
                 self.engine.clock.now()),
            )
            conn.execute(
                "DELETE FROM answer_cache WHERE key IN (SELECT key FROM answer_cache ORDER BY created_ts DESC "
                "LIMIT -1 OFFSET ?)",
                (self.config.max_entries,),
            )
        self.counters.stored += 1

    # -- bookkeeping -------------------------------------------------------------------------

    def _count_miss(self, reason: str) -> None:
        self.counters.misses += 1
        self.counters.reasons[reason] = self.counters.reasons.get(reason, 0) + 1

    def _drop(self, key: str) -> None:
        with self.engine.store.transaction() as conn:
            conn.execute("DELETE FROM answer_cache WHERE key = ?", (key,))

    def clear(self) -> int:
        """Forget every entry; returns how many there were."""
        with self.engine.store.transaction() as conn:
            return conn.execute("DELETE FROM answer_cache").rowcount

    def stats(self) -> dict[str, Any]:
        """Hit rate since start and over the cache's lifetime, entries held, and why lookups missed."""
        store = self.engine.store
        lifetime_hits = self.earlier_hits + self.counters.hits
        lifetime_lookups = self.earlier_lookups + self.counters.lookups
        return {
            "enabled": True,
            "entries": int(store.scalar("SELECT count(*) FROM answer_cache") or 0),
            "hits": self.counters.hits,
            "misses": self.counters.misses,
            "hit_rate": self.counters.hit_rate,
            "invalidated": self.counters.invalidated,
            "expired": self.counters.expired,
            "stored": self.counters.stored,
            "miss_reasons": dict(self.counters.reasons),
            "lifetime_hits": lifetime_hits,
            "lifetime_lookups": lifetime_lookups,
            "lifetime_hit_rate": lifetime_hits / lifetime_lookups if lifetime_lookups else None,
            "ttl_s": self.config.ttl_s,
        }


class AnswerCacheCapability(Capability):
    """Reuses answers while question and context are unchanged (when enabled); provides `AnswerCache`."""

    name = "answer_cache"
    migrations = {"answer_cache": [ANSWER_CACHE_V1]}

    def install(self, engine: Engine) -> None:
        """Plug the cache into the answer path (when enabled) and register `!cache`."""
        config = engine.config.ops.answer_cache
        if config.enabled:
            install_cache(engine, AnswerCache(engine, config))


def install_cache(engine: Engine, cache: AnswerCache) -> None:
    """Make `cache` the answer path's cache and register `!cache`."""
    engine.answer_path.cache = cache
    engine.provide(cache)

    @engine.commands.command("cache", help="Answer-cache figures, or clear it (admins).", group="general",
                             args=[Arg("action", choices=("stats", "clear"), default="stats")])
    async def cache_command(context: CommandContext) -> str:
        if context.params["action"] == "clear":
            if not engine.access.is_admin(context.user):
                return "Sorry, clearing the answer cache is for admins only."
            return f"Answer cache cleared ({cache.clear()} entries)."
        stats = cache.stats()
        rate = "—" if stats["hit_rate"] is None else f"{stats['hit_rate']:.0%}"
        life = "—" if stats["lifetime_hit_rate"] is None else f"{stats['lifetime_hit_rate']:.0%}"
        reasons = ", ".join(f"{name} {count}" for name, count in stats["miss_reasons"].items()) or "none"
        return (f"**Answer cache**: {stats['entries']} entries, TTL {stats['ttl_s']:.0f}s\n"
                f"- since start: {stats['hits']} hits / {stats['hits'] + stats['misses']} lookups ({rate}); "
                f"misses: {reasons}\n"
                f"- lifetime: {stats['lifetime_hits']} hits / {stats['lifetime_lookups']} lookups ({life})")
