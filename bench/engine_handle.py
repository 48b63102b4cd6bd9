"""Benchmark: latency of `Engine.handle` for questions addressed to the bot (offline engine).

Runs N questions (default 1,000) through the full pipeline on a real SQLite file in a temp dir:
keep (redact, store, index), notice, answer (retrieve runbooks + earlier messages, compose, judge,
record the interaction), store the reply. Prints p50/p90/p99/max in milliseconds and the rate.

    python bench/engine_handle.py [--n 1000] [--synchronous full|normal] [--history 2000] [--no-cache]

The questions repeat (16 distinct), so with the answer cache on most answers are cache hits once the
retrieved context stops changing; `--no-cache` measures the full answer path every time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_core.engine.stats import percentile
from hololoom_core.models import ChatMessage

QUESTIONS = [
    "checkout-api is returning 500 errors since the deploy",
    "p99 latency spiked on search-api, what now?",
    "connection pool exhausted on orders-api",
    "no space left on device on web-03.prod",
    "payments-worker keeps getting OOMKilled",
    "CPU pegged at 100% on db-01.prod",
    "TLS certificate for api.example.com expires tomorrow",
    "DNS lookups failing with SERVFAIL",
    "the v2.14 deploy failed, how do we roll back?",
    "queue backlog growing on the email queue",
    "users cannot log in, 401 everywhere",
    "partner API answers 429 too many requests",
    "an AWS key leaked in a public gist",
    "cache stampede after redis flush",
    "replication lag on the postgres replica is 40s",
    "how should we plan the team offsite?",
]
CHATTER = [
    "deploying {svc} v2.{n} to prod now",
    "{svc} error rate back to normal after the restart",
    "seeing timeouts from {svc} on web-0{n}.prod",
    "who owns {svc}? the dashboard shows 5xx at {n}%",
    "rolled back {svc} to the previous release",
]
SERVICES = ["checkout-api", "search-api", "orders-api", "payments-worker", "auth-service"]


async def run(count: int, synchronous: Literal["full", "normal"], history: int, seed: int, cache: bool) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as directory:
        config = load_config(None, data_dir=Path(directory), environ={})
        config.store.synchronous = synchronous
        config.ops.answer_cache.enabled = cache
        engine = Engine(config)
        await engine.start()
        for index in range(history):
            text = rng.choice(CHATTER).format(svc=rng.choice(SERVICES), n=rng.randint(1, 9))
            await engine.handle(ChatMessage(room_id="#ops", sender=f"user{index % 7}", body=text))
        for _ in range(20):  # warm-up
            await engine.handle(ChatMessage(room_id="#ops", sender="warm", body="@hololoom " + rng.choice(QUESTIONS)))
        latencies: list[float] = []
        started = time.perf_counter()
        for index in range(count):
            body = "@hololoom " + rng.choice(QUESTIONS)
            t0 = time.perf_counter()
            result = await engine.handle(ChatMessage(room_id="#ops", sender=f"asker{index % 5}", body=body))
            latencies.append((time.perf_counter() - t0) * 1000)
            assert result.replies and result.replies[0].answer is not None
        elapsed = time.perf_counter() - started
        messages = engine.messages.count()
        await engine.close()
    print(f"Engine.handle, offline engine, synchronous={synchronous}, answer cache {'on' if cache else 'off'}, "
          f"{history} history messages, {count} questions ({len(QUESTIONS)} distinct)")
    print(f"  p50 {percentile(latencies, 0.50):.2f} ms   p90 {percentile(latencies, 0.90):.2f} ms   "
          f"p99 {percentile(latencies, 0.99):.2f} ms   max {max(latencies):.2f} ms   "
          f"mean {statistics.fmean(latencies):.2f} ms")
    print(f"  {count / elapsed:,.0f} questions/s; store holds {messages:,} messages at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-cache", action="store_true", help="switch the answer cache off (every answer computed)")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.synchronous, args.history, args.seed, not args.no_cache))


if __name__ == "__main__":
    main()
