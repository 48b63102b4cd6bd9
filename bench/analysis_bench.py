"""Rate of the analysis stage of `hololoom ingest` (entities, graph, detectors, insights, items; embeddings in fast mode).

Run: python bench/analysis_bench.py [--n 20000] [--modes bare,fast] [--before-rev REV] [--dir /tmp/hololoom-bench-analysis]

Each measurement runs in a fresh subprocess on a fresh data dir with the same synthetic corpus
(bench/corpus.py). "after" is this checkout: `ingest_file` times its store and analyse stages
separately (IngestReport.store_seconds / analyse_seconds; embeddings are timed after the store and
analysis, with the model loaded before the clock starts). "before" is the code at `--before-rev`
(default: the merge base with main), extracted with `git archive`: there store and analysis ran
interleaved per message, so its analysis time is its ingest time minus the engine's bare keep
step over the same corpus (measured in that same subprocess). The anchor printed with each line is
that bare keep step (no capabilities), so noisy machines show up as a moved anchor, not a moved ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _config(data_dir: Path, mode: str):  # noqa: ANN202
    from hololoom_core.config import load_config

    shutil.rmtree(data_dir, ignore_errors=True)
    return load_config(None, data_dir=data_dir, environ={"HOLOLOOM_CONFIG_MODE": mode})


async def _keep_only(corpus: Path, data_dir: Path) -> float:
    """Seconds of the engine's keep step alone (no capabilities), batched like ingest."""
    from hololoom_core.engine import Engine
    from hololoom_core.memory.ingest import read_records

    engine = Engine(_config(data_dir, "bare"), capabilities=[])
    records = [r for r in read_records(corpus) if r is not None and not isinstance(r, Exception)]
    started = time.perf_counter()
    for start in range(0, len(records), 2000):
        with engine.store.transaction():
            for record in records[start:start + 2000]:
                engine.keep(record.message)
    elapsed = time.perf_counter() - started
    await engine.close()
    return elapsed


def _memory_of(engine: object) -> Any:
    """The memory service, through the typed capabilities (or the old `extensions` of an earlier checkout)."""
    find = getattr(engine, "find_capability", None)
    if find is None:
        return engine.extensions["memory"]  # type: ignore[attr-defined]
    from hololoom_core.memory.service import MemoryService

    return find(MemoryService)


async def _measure(corpus: Path, data_dir: Path, mode: str) -> dict[str, float | int | str]:
    """One ingest in one mode with whatever hololoom_core is on sys.path."""
    from hololoom_core.engine import Engine
    from hololoom_core.memory.ingest import ingest_file

    keep_s = await _keep_only(corpus, data_dir / "keep")
    engine = Engine(_config(data_dir / mode, mode))
    memory = _memory_of(engine)
    if mode != "bare":
        await memory.prepare(mode)
    started = time.perf_counter()
    report = await ingest_file(engine, corpus, embed=False)
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    embedded = await memory.embed_backlog(mode, batch_size=4096) if mode != "bare" else 0
    embed_s = time.perf_counter() - started
    counts = {
        "insights": engine.store.scalar("SELECT count(*) FROM insights"),
        "items": engine.store.scalar("SELECT count(*) FROM memory_items"),
        "edges": engine.store.scalar("SELECT count(*) FROM memory_edges"),
        "nodes": engine.store.scalar("SELECT count(*) FROM memory_nodes"),
    }
    await engine.close()
    staged = hasattr(report, "analyse_seconds")
    store_s = report.store_seconds if staged else keep_s
    analyse_s = report.analyse_seconds if staged else max(1e-9, ingest_s - keep_s)
    return {"mode": mode, "stored": report.stored, "keep_s": keep_s, "ingest_s": ingest_s, "store_s": store_s,
            "analyse_s": analyse_s, "embed_s": embed_s, "embedded": embedded, "staged": int(staged), **counts}


def _worker(args: argparse.Namespace) -> None:
    figures = asyncio.run(_measure(args.corpus, args.dir, args.mode))
    print(json.dumps(figures))


def _extract(rev: str, into: Path) -> Path:
    """The code at `rev`, extracted with `git archive` (no checkout of this worktree is touched)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True,
                             capture_output=True).stdout
    target = into / f"before-{rev[:12]}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(target, filter="data")
    return target


def _run(code: Path, corpus: Path, data_dir: Path, mode: str) -> dict[str, float | int | str]:
    environ = {**os.environ, "PYTHONPATH": str(code)}
    output = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", "--corpus", str(corpus),
                             "--dir", str(data_dir), "--mode", mode], env=environ, check=True, capture_output=True,
                            text=True, cwd=str(code)).stdout
    return json.loads(output.strip().splitlines()[-1])


def _line(label: str, f: dict[str, float | int | str]) -> str:
    n = float(f["stored"])
    anchor = n / float(f["keep_s"])
    analyse = n / float(f["analyse_s"])
    text = (f"{label:6} {f['mode']:4}: analyse {analyse:7,.0f} msgs/s ({analyse / anchor:.2f}x the keep anchor "
            f"{anchor:,.0f}/s); store {n / float(f['store_s']):7,.0f}/s"
            + ("" if f["staged"] else " (= keep anchor; store and analysis were interleaved)"))
    if f["embedded"]:
        with_embed = n / (float(f["analyse_s"]) + float(f["embed_s"]))
        text += f"; analyse+embed {with_embed:,.0f}/s (embed {float(f['embedded']) / float(f['embed_s']):,.0f}/s)"
    text += f"; {f['insights']} insights, {f['items']} items, {f['edges']} edges"
    return text


def main() -> None:
    """Print the analysis rate before and after, per mode, against the keep anchor of the same subprocess."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--modes", default="bare,fast")
    parser.add_argument("--before-rev", default=None, help="git revision to compare with (default: merge-base "
                        "with main; 'none' to skip)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hololoom-bench-analysis"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="bare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from corpus import write_corpus

    args.dir.mkdir(parents=True, exist_ok=True)
    corpus = write_corpus(args.dir / f"corpus-{args.n}.jsonl", args.n)
    rev = args.before_rev
    if rev is None:
        rev = subprocess.run(["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True,
                             text=True).stdout.strip() or "none"
    before = None if rev == "none" else _extract(rev, args.dir)
    print(f"corpus: {args.n:,} synthetic messages; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; "
          f"before = {rev}")
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        runs = []
        if before is not None:
            runs.append(("before", _run(before, corpus, args.dir / "run", mode)))
        runs.append(("after", _run(ROOT, corpus, args.dir / "run", mode)))
        for label, figures in runs:
            print(_line(label, figures), flush=True)
        if len(runs) == 2:
            old, new = runs[0][1], runs[1][1]
            gain = (float(old["analyse_s"]) / float(old["keep_s"])) / (float(new["analyse_s"]) / float(new["keep_s"]))
            print(f"       {mode:4}: analysis {gain:.2f}x faster after (time per message relative to each run's "
                  f"keep anchor); same results: {all(old[k] == new[k] for k in ('insights', 'items', 'edges'))}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
