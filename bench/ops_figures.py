"""Benchmark: what the operations toolkit costs, on a real SQLite file in a temp dir (offline engine).

Prints:
- answer cache: latency of answers that miss vs hit (full `Engine.ask`), and the cost of one
  cache lookup itself;
- command framework: parse + access check + typed-argument parsing + dispatch per command;
- incident keeper: extra cost per stored message while an incident is open (vs none open);
- postmortem: generation time for an incident with a long timeline.

    python bench/ops_figures.py [--n 300] [--synchronous full|normal]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

from hololoom_core.answers.types import AnswerContext, Configuration
from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_core.engine.stats import percentile
from hololoom_core.models import ChatMessage
from hololoom_core.ops.answer_cache import AnswerCache
from hololoom_core.ops.incidents.service import IncidentService

QUESTIONS = [
    "checkout-api is returning 500 errors since the deploy",
    "p99 latency spiked on search-api, what now?",
    "connection pool exhausted on orders-api",
    "no space left on device on web-03.prod",
    "payments-worker keeps getting OOMKilled",
    "TLS certificate for api.example.com expires tomorrow",
    "DNS lookups failing with SERVFAIL",
    "queue backlog growing on the email queue",
]


def summary(name: str, samples_ms: list[float]) -> str:
    """`name: p50 … p90 … p99 … ms (n=…)`."""
    return (f"{name:<44} p50 {percentile(samples_ms, 0.5):8.3f}  p90 {percentile(samples_ms, 0.9):8.3f}  "
            f"p99 {percentile(samples_ms, 0.99):8.3f} ms  (n={len(samples_ms)})")


async def bench(n: int, synchronous: Literal["full", "normal"]) -> None:
    """Run every measurement and print it."""
    with tempfile.TemporaryDirectory() as directory:
        config = load_config(None, data_dir=Path(directory), environ={})
        config.store.synchronous = synchronous
        engine = Engine(config)
        await engine.start()
        try:
            base = time.time()
            for i in range(200):  # some history for retrieval to search
                await engine.handle(ChatMessage(room_id="#ops", sender=f"user{i % 7}", ts=base + i,
                                                body=f"seeing timeouts from service-{i % 9} on web-0{i % 5}.prod"))
            misses, hits = [], []
            for question in QUESTIONS:
                started = time.perf_counter()
                await engine.ask(question)
                misses.append((time.perf_counter() - started) * 1000)
            for i in range(n):
                started = time.perf_counter()
                await engine.ask(QUESTIONS[i % len(QUESTIONS)])
                hits.append((time.perf_counter() - started) * 1000)
            cache = engine.capability(AnswerCache)
            context = AnswerContext(question=QUESTIONS[0])
            sources = engine.answer_path.retrievers.retrieve(context, Configuration())
            lookups = []
            for _ in range(n):
                started = time.perf_counter()
                cache.get(context, sources, Configuration())
                lookups.append((time.perf_counter() - started) * 1000)
            print(f"answer cache (SQLite synchronous={synchronous}), {len(QUESTIONS)} distinct questions")
            print(summary("  ask, cache miss (first time)", misses))
            print(summary("  ask, cache hit", hits))
            print(summary("  cache lookup alone (hit: one SELECT)", lookups))
            stats = cache.stats()
            print(f"  hit rate measured: {stats['hits']}/{stats['hits'] + stats['misses']}")

            commands = []
            for i in range(n):
                body = "!incident list all" if i % 2 else "!help incident role"
                started = time.perf_counter()
                await engine.handle(ChatMessage(room_id="#cmd", sender="bob", body=body, ts=base + 1000 + i))
                commands.append((time.perf_counter() - started) * 1000)
            print(summary("command via Engine.handle (store + reply)", commands))
            registry = engine.commands
            parse_only = []
            for _ in range(n):
                started = time.perf_counter()
                parsed = registry.parse("!incident role INC-1 @bob scribe", "!")
                assert parsed is not None, "the benchmarked command must parse"
                spec = registry.get(parsed.name)
                assert spec is not None, f"no command {parsed.name} registered"
                engine.access.check("incident role", "bob", "#ops", admin_only=spec.admin_only)
                parse_only.append((time.perf_counter() - started) * 1000)
            print(summary("command parse + lookup + access check", parse_only))

            async def chatter(room: str, count: int, thread: str | None, offset: float) -> list[float]:
                samples = []
                for i in range(count):
                    started = time.perf_counter()
                    await engine.handle(ChatMessage(room_id=room, sender="alice", thread_id=thread,
                                                    body=f"checking pods on web-0{i % 5}, @bob will look at the db",
                                                    ts=base + offset + i))
                    samples.append((time.perf_counter() - started) * 1000)
                return samples

            quiet = await chatter("#quiet", n, None, 5000)
            declared = await engine.handle(ChatMessage(room_id="#inc", sender="alice", ts=base + 9000,
                                                       body="!incident declare sev2 checkout-api 500s"))
            thread = declared.replies[0].thread_id
            busy = await chatter("#inc", n, thread, 9001)
            print(summary("message, no incident open (handle)", quiet))
            print(summary("message in an open incident's thread", busy))
            service = engine.capability(IncidentService)
            timeline = len(service.timeline("INC-1"))
            started = time.perf_counter()
            markdown = service.postmortem("INC-1", regenerate=True)
            elapsed = (time.perf_counter() - started) * 1000
            print(f"postmortem with {timeline} timeline entries: {elapsed:.1f} ms, {len(markdown):,} characters")
            print(f"mean extra cost per message while an incident is open: "
                  f"{statistics.mean(busy) - statistics.mean(quiet):+.3f} ms")
        finally:
            await engine.close()


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--synchronous", choices=("full", "normal"), default="full")
    args = parser.parse_args()
    asyncio.run(bench(args.n, args.synchronous))


if __name__ == "__main__":
    main()
