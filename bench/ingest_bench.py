"""Bulk-ingest throughput per retrieval mode, through the real `hololoom ingest` path.

Run: python bench/ingest_bench.py [--n 20000] [--modes bare,fast,fused] [--dir /tmp/hololoom-bench]

For each mode a fresh data dir ingests the same synthetic JSON Lines corpus (bench/corpus.py):
store + FTS index + graph + detectors + tracked items in batched transactions, then the embeddings
(fast: wordllama, fused: MiniLM). Also printed, as the floor this machine allows: the engine's own
keep step with no memory capability at all (redaction, the message row, its FTS5 trigger, room and
user rows), because no capability can ingest faster than the core stores.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from corpus import write_corpus  # noqa: E402

from hololoom_core.config import load_config  # noqa: E402
from hololoom_core.engine import Engine  # noqa: E402
from hololoom_core.memory.ingest import ingest_file, read_records  # noqa: E402
from hololoom_core.memory.service import MemoryService  # noqa: E402


def config_for(data_dir: Path, mode: str):  # noqa: ANN201
    """The default configuration on a fresh data dir in one mode."""
    shutil.rmtree(data_dir, ignore_errors=True)
    return load_config(None, data_dir=data_dir, environ={"HOLOLOOM_CONFIG_MODE": mode})


async def core_floor(corpus: Path, data_dir: Path) -> float:
    """Messages/s of the engine's keep step alone (no capabilities), batched like ingest."""
    engine = Engine(config_for(data_dir, "bare"), capabilities=[])
    records = [r for r in read_records(corpus) if r is not None and not isinstance(r, Exception)]
    started = time.perf_counter()
    for start in range(0, len(records), 2000):
        with engine.store.transaction():
            for record in records[start:start + 2000]:
                engine.keep(record.message)
    elapsed = time.perf_counter() - started
    await engine.close()
    return len(records) / elapsed


async def run_mode(corpus: Path, data_dir: Path, mode: str) -> dict[str, float]:
    """Ingest the corpus in one mode; returns timings."""
    engine = Engine(config_for(data_dir, mode))
    memory = engine.capability(MemoryService)
    if mode != "bare":
        await memory.prepare(mode)  # model loading is not ingest work: load before the clock starts
    started = time.perf_counter()
    report = await ingest_file(engine, corpus, embed=False)
    stored_at = time.perf_counter()
    embedded = await memory.embed_backlog(mode, batch_size=4096) if mode != "bare" else 0
    finished = time.perf_counter()
    resolved = memory.resolve_mode(mode)
    await engine.close()
    return {"stored": report.stored, "insights": report.insights, "embedded": embedded,
            "store_s": stored_at - started, "embed_s": finished - stored_at, "total_s": finished - started,
            "mode": resolved}


async def main() -> None:
    """Print messages/s per mode."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--modes", default="bare,fast,fused")
    parser.add_argument("--fused-n", type=int, default=5000, help="messages for fused mode (MiniLM embeds "
                        "~400-500 messages/s on 2 idle cores)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hololoom-bench-ingest"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    corpus = write_corpus(args.dir / f"corpus-{args.n}.jsonl", args.n)
    print(f"corpus: {args.n:,} synthetic messages; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.2f}; SQLite synchronous=full (default), batches of 2000")
    floor = await core_floor(corpus, args.dir / "floor")
    print(f"core keep only (no memory capability): {floor:,.0f} messages/s")
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode == "fused" and importlib.util.find_spec("sentence_transformers") is None:
            print("fused: skipped (the semantic extra is not installed)")
            continue
        source = corpus
        if mode == "fused" and args.fused_n < args.n:
            source = write_corpus(args.dir / f"corpus-{args.fused_n}.jsonl", args.fused_n)
        figures = await run_mode(source, args.dir / mode, mode)
        rate = figures["stored"] / figures["total_s"]
        print(f"{mode:5} ({figures['mode']}): {rate:,.0f} messages/s end to end "
              f"(store+index+graph+insights {figures['stored'] / figures['store_s']:,.0f}/s in "
              f"{figures['store_s']:.1f} s; embeddings {figures['embed_s']:.1f} s"
              + (f", {figures['embedded'] / figures['embed_s']:,.0f}/s" if figures["embedded"] else "")
              + f"); {figures['insights']:,} insights")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
