"""Recall latency (p50/p99) per retrieval mode at 100k and 1M messages, against rank-bm25 in the same run.

Run: python bench/recall_bench.py [--sizes 100000,1000000] [--queries 300] [--fused-max 10000]

Each size is a synthetic corpus (bench/corpus.py) stored through the store's own insert (row, FTS5;
`corpus.build_store`, about a minute per million messages; the analysis steps that bare and fast
recall never read are skipped). Every mode answers the same queries with `MemoryService.recall(k=8)`
(the code behind `!recall` and the answer path); embeddings are computed (once, then kept in SQLite)
before timing. rank-bm25 (BM25Okapi over the same message bodies, lower-cased word tokens) answers
the same queries: its time over ours is the ratio to beat. Above `--bm25-full` messages rank-bm25
answers only the first `--bm25-queries` queries (it takes ~0.5 s each at 1M); that is said in the output.

Rooms are walls: chat recall is filtered to the asker's room scope (`RoomScope`, in SQL and in the vector
mask). Every mode is timed a second time with the scope of one room of the corpus, as `!recall` and the
answer path run it, and the bench prints scoped p50/p99 and their ratio to the unscoped figures.

Quality: in the embedding modes the vector list of every query is also computed by an exhaustive
scan of all stored vectors, and the bench prints recall@k of the indexed search against it (a found
message counts when its exact cosine is at least the exhaustive k-th best, so exact ties count).
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
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import HOSTS, OPS_WORDS, ROOMS, SERVICES, SYMPTOMS, build_store  # noqa: E402

from hololoom_core.config import load_config  # noqa: E402
from hololoom_core.engine import Engine  # noqa: E402
from hololoom_core.memory.search import RecallFilters  # noqa: E402
from hololoom_core.memory.service import MemoryService  # noqa: E402
from hololoom_core.rooms import RoomScope  # noqa: E402

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
    """A data dir holding `size` stored messages (reused if already built)."""
    data = directory / f"data-{size}"
    marker = data / f"stored-{size}"
    if marker.exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    seconds = build_store(data, size)
    print(f"  stored {size:,} messages in {seconds:.1f} s ({size / seconds:,.0f}/s)")
    marker.write_text("ok")
    return data


def exhaustive(index: Any, query: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Exact cosine of every stored vector (by row) and the k-th best, scanning all of them in float32."""
    size = index.size
    scores = np.empty(size, dtype=np.float32)
    for start in range(0, size, 65536):
        scores[start:start + 65536] = index.full[start:min(size, start + 65536)].astype(np.float32) @ query
    scores[~index.alive[:size]] = -np.inf
    kth = float(np.partition(scores, size - k)[size - k]) if size > k else float(scores.min())
    return scores, kth


def vector_quality(memory: Any, mode: str, texts: list[str], ks: tuple[int, ...]) -> dict[int, float]:
    """recall@k of the index's search against the exhaustive scan, per k, over the queries."""
    access = memory.search_engine.vectors(mode)
    if access is None:
        return {}
    index, embed = access
    found: dict[int, list[float]] = {k: [] for k in ks}
    for text in texts:
        query = np.asarray(embed([text])[0], dtype=np.float32)
        for k in ks:
            scores, kth = exhaustive(index, query, k)
            hits = index.search(query, k)
            rows = [index.position[message_id] for message_id, _ in hits]
            found[k].append(float(np.mean(scores[rows] >= kth - 1e-3)) if rows else 0.0)
    return {k: statistics.mean(values) for k, values in found.items()}


async def time_mode(data: Path, mode: str, texts: list[str], quality_queries: int) -> dict[str, Any]:
    """p50/p99 ms, embedding and index seconds, the mode that ran, and the vector quality for one mode."""
    engine = Engine(load_config(None, data_dir=data, environ={"HOLOLOOM_CONFIG_MODE": mode}))
    memory = engine.capability(MemoryService)
    started = time.perf_counter()
    resolved = await memory.prepare(mode)
    if resolved != "bare":
        await memory.embed_backlog(resolved, batch_size=8192)
        index = memory.index(resolved)
        wait = getattr(index, "wait_ready", None)
        if wait is not None:
            await asyncio.to_thread(wait)
    prepare_s = time.perf_counter() - started
    for text in texts[:20]:
        memory.recall(text, k=8, mode=mode)  # warm caches (graph view, statement cache)
    samples, scoped_samples = [], []
    scoped = RecallFilters(scope=RoomScope.for_room(ROOMS[0]))  # what a chat asker in one room searches
    for text in texts:  # interleaved, so a change in the machine's load hits both the same way
        began = time.perf_counter()
        memory.recall(text, k=8, mode=mode)
        samples.append(time.perf_counter() - began)
        began = time.perf_counter()
        memory.recall(text, k=8, mode=mode, filters=scoped)
        scoped_samples.append(time.perf_counter() - began)
    quality = vector_quality(memory, resolved, texts[:quality_queries], (8, 50)) if resolved != "bare" else {}
    await engine.close()
    p50, p99 = percentiles(samples)
    scoped_p50, scoped_p99 = percentiles(scoped_samples)
    return {"p50": p50, "p99": p99, "prepare_s": prepare_s, "resolved": resolved, "quality": quality,
            "scoped_p50": scoped_p50, "scoped_p99": scoped_p99}


def time_rank_bm25(data: Path, texts: list[str]) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, build seconds) for rank-bm25 over the same messages."""
    from rank_bm25 import BM25Okapi

    engine = Engine(load_config(None, data_dir=data, environ={"HOLOLOOM_CONFIG_MODE": "bare"}), capabilities=[])
    bodies = [row[0] for row in engine.store.query("SELECT body FROM messages WHERE is_bot = 0 AND redacted = 0")]
    engine.store.close()
    started = time.perf_counter()
    index = BM25Okapi([_WORD.findall(body.lower()) for body in bodies])
    del bodies
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
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--modes", default="bare,fast,fused")
    parser.add_argument("--fused-max", type=int, default=10000, help="largest size to run fused mode on "
                        "(MiniLM embeds ~400-500 messages/s here)")
    parser.add_argument("--bm25-full", type=int, default=100_000,
                        help="largest size at which rank-bm25 answers every query")
    parser.add_argument("--bm25-queries", type=int, default=30, help="queries rank-bm25 answers above --bm25-full")
    parser.add_argument("--quality-queries", type=int, default=100,
                        help="queries checked against the exhaustive vector scan")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hololoom-bench-recall-store"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    texts = queries(args.queries)
    semantic = importlib.util.find_spec("sentence_transformers") is not None
    print(f"{args.queries} queries, k=8; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        print(f"{size:,} messages")
        data = await build(size, args.dir)
        sample = texts if size <= args.bm25_full else texts[: args.bm25_queries]
        bm_p50, bm_p99, bm_build = time_rank_bm25(data, sample)
        note = "" if len(sample) == len(texts) else f"; first {len(sample)} queries only"
        print(f"  rank-bm25      p50 {bm_p50:8.2f} ms  p99 {bm_p99:8.2f} ms  (index built in {bm_build:.1f} s{note})")
        for mode in [m for m in args.modes.split(",") if m]:
            if mode == "fused" and (not semantic or size > args.fused_max):
                reason = "semantic extra not installed" if not semantic else f"size > --fused-max {args.fused_max}"
                print(f"  {mode:14} skipped ({reason})")
                continue
            figures = await time_mode(data, mode, texts, args.quality_queries)
            p50, p99 = figures["p50"], figures["p99"]
            prepared = f"; loaded/embedded/indexed in {figures['prepare_s']:.1f} s" if mode != "bare" else ""
            print(f"  {mode:5} ({figures['resolved']:5})  p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  "
                  f"rank-bm25/ours p50 x{bm_p50 / p50:.1f}, p99 x{bm_p99 / p99:.1f}{prepared}")
            print(f"        scoped to {ROOMS[0]} (1 of {len(ROOMS)} rooms)  p50 {figures['scoped_p50']:8.2f} ms  "
                  f"p99 {figures['scoped_p99']:8.2f} ms  scoped/unscoped p50 x{figures['scoped_p50'] / p50:.2f}, "
                  f"p99 x{figures['scoped_p99'] / p99:.2f}")
            if figures["quality"]:
                quality = ", ".join(f"recall@{k} {value:.3f}" for k, value in figures["quality"].items())
                print(f"        vector search vs exhaustive scan ({args.quality_queries} queries): {quality}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
