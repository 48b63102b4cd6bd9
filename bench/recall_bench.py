"""Recall latency (p50/p99) per retrieval mode at 10k and 100k messages, against rank-bm25 in the same run.

Run: python bench/recall_bench.py [--sizes 10000,100000] [--queries 300] [--fused-max 10000]

Each size is a synthetic corpus (bench/corpus.py) ingested through the real ingest path. Every
mode answers the same queries with `MemoryService.recall(k=8)` (the code behind `!recall` and the
answer path); embeddings are computed before timing. rank-bm25 (BM25Okapi over the same message
bodies, lower-cased word tokens) answers the same queries: its time over ours is the ratio to beat.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import HOSTS, OPS_WORDS, SERVICES, SYMPTOMS, write_corpus  # noqa: E402

from hololoom_core.config import load_config  # noqa: E402
from hololoom_core.engine import Engine  # noqa: E402
from hololoom_core.memory.ingest import ingest_file  # noqa: E402
from hololoom_core.memory.service import MemoryService  # noqa: E402

_WORD = re.compile(r"[a-z0-9]+")


def queries(count: int, seed: int = 11) -> list[str]:
    """Operator-style queries over the corpus vocabulary (some with entities, some plain words)."""
    rng = random.Random(seed)
    shapes = [
        lambda: f"{rng.choice(SERVICES)} {rng.choice(OPS_WORDS)}",
        lambda: f"why is {rng.choice(SERVICES)} {rng.choice(SYMPTOMS)}",
        lambda: f"{rng.choice(OPS_WORDS)} on {rng.choice(HOSTS)}",
        lambda: f"{rng.choice(OPS_WORDS)} {rng.choice(OPS_WORDS)} {rng.choice(OPS_WORDS)}",
        lambda: f"who decided to {rng.choice(['roll back', 'freeze deploys', 'fail over'])}",
        lambda: f"{rng.choice(SERVICES)} returning {rng.choice(['500', '502', '503'])}s",
    ]
    return [rng.choice(shapes)() for _ in range(count)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p99 * 1000


async def build(size: int, directory: Path) -> Path:
    """A data dir holding `size` ingested messages (reused if already built)."""
    data = directory / f"data-{size}"
    marker = data / f"ingested-{size}"
    if marker.exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    corpus = write_corpus(directory / f"corpus-{size}.jsonl", size)
    engine = Engine(load_config(None, data_dir=data, environ={"HOLOLOOM_CONFIG_MODE": "bare"}))
    started = time.perf_counter()
    report = await ingest_file(engine, corpus, embed=False, batch_size=5000)
    print(f"  built {size:,} messages in {time.perf_counter() - started:.1f} s ({report.insights:,} insights)")
    await engine.close()
    marker.write_text("ok")
    return data


async def time_mode(data: Path, mode: str, texts: list[str]) -> tuple[float, float, float, str] | None:
    """(p50 ms, p99 ms, embedding seconds, mode that ran) for one mode."""
    engine = Engine(load_config(None, data_dir=data, environ={"HOLOLOOM_CONFIG_MODE": mode}))
    memory = engine.capability(MemoryService)
    resolved = await memory.prepare(mode)
    started = time.perf_counter()
    if resolved != "bare":
        await memory.embed_backlog(resolved, batch_size=4096)
    embed_s = time.perf_counter() - started
    for text in texts[:20]:
        memory.recall(text, k=8, mode=mode)  # warm caches (graph view, statement cache)
    samples = []
    for text in texts:
        began = time.perf_counter()
        memory.recall(text, k=8, mode=mode)
        samples.append(time.perf_counter() - began)
    await engine.close()
    p50, p99 = percentiles(samples)
    return p50, p99, embed_s, resolved


def time_rank_bm25(data: Path, texts: list[str]) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, build seconds) for rank-bm25 over the same messages."""
    from rank_bm25 import BM25Okapi

    engine = Engine(load_config(None, data_dir=data, environ={"HOLOLOOM_CONFIG_MODE": "bare"}), capabilities=[])
    bodies = [row[0] for row in engine.store.query("SELECT body FROM messages WHERE is_bot = 0 AND redacted = 0")]
    engine.store.close()
    started = time.perf_counter()
    index = BM25Okapi([_WORD.findall(body.lower()) for body in bodies])
    build_s = time.perf_counter() - started
    samples = []
    for text in texts:
        began = time.perf_counter()
        scores = index.get_scores(_WORD.findall(text.lower()))
        top = np.argpartition(-scores, 8)[:8]
        top[np.argsort(-scores[top])]
        samples.append(time.perf_counter() - began)
    p50, p99 = percentiles(samples)
    return p50, p99, build_s


async def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--fused-max", type=int, default=10000, help="largest size to run fused mode on "
                        "(MiniLM embeds ~400-500 messages/s here)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hololoom-bench-recall"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    texts = queries(args.queries)
    semantic = importlib.util.find_spec("sentence_transformers") is not None
    print(f"{args.queries} queries, k=8; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        print(f"{size:,} messages")
        data = await build(size, args.dir)
        bm_p50, bm_p99, bm_build = time_rank_bm25(data, texts)
        print(f"  rank-bm25      p50 {bm_p50:8.2f} ms  p99 {bm_p99:8.2f} ms  (index built in {bm_build:.1f} s)")
        for mode in ("bare", "fast", "fused"):
            if mode == "fused" and (not semantic or size > args.fused_max):
                reason = "semantic extra not installed" if not semantic else f"size > --fused-max {args.fused_max}"
                print(f"  {mode:14} skipped ({reason})")
                continue
            figures = await time_mode(data, mode, texts)
            assert figures is not None
            p50, p99, embed_s, resolved = figures
            embedded = f"; embeddings computed in {embed_s:.1f} s first" if embed_s > 0.05 else ""
            print(f"  {mode:5} ({resolved:5})  p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  "
                  f"rank-bm25/ours p50 x{bm_p50 / p50:.1f}, p99 x{bm_p99 / p99:.1f}{embedded}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
