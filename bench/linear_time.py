"""Time per message through `Engine.handle` (keep, notice, act) for adversarial text of growing size.

Run: python bench/linear_time.py [--sizes 1,4,16,64] [--repeat 3] [--dir /tmp/hololoom-bench-linear]
     [--redactor [--before-rev REV]]

Each input kind is built to defeat a backtracking regex: `a.` repeated (hosts, URLs, files), one long
host-like run, `password=` repeated (assignment rules), `://` runs (passwords in URLs), a long base64
run (tokens, JWTs), long `-` separated words (services). Every size is measured on the full engine
(all default capabilities, a real SQLite file in `--dir`), as the best of `--repeat` runs of a fresh
message. Printed per kind: milliseconds per message at each size and the cost per KB relative to
the 1 KB anchor measured in the same run (linear growth keeps the ratio near 1; quadratic growth
doubles it with every doubling of size). `--redactor` also prints the redactor's own speed per
message on ordinary chat and on secret-bearing text, for this checkout and for `--before-rev`.
Messages of 64 KB are at the size limit (stored and acted on; analysis reads their first 16 KB).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KINDS: dict[str, Callable[[int], str]] = {
    "a.": lambda size: ("a." * size)[:size],
    "long host": lambda size: ("x1-" * size)[: size - 5] + ".prod",
    "password=": lambda size: ("password=" * size)[:size],
    "url ://": lambda size: ("a://b:" * size)[:size],
    "base64 run": lambda size: "eyJ" + ("A1b2" * size)[: size - 3],
    "dashed words": lambda size: ("ab-" * size)[:size],
    "spaces and @": lambda size: ("@a " * size)[:size],
}


async def measure(data_dir: Path, sizes: list[int], repeat: int) -> dict[str, dict[int, float]]:
    """Best-of-`repeat` seconds per message for each kind and size (KB), through Engine.handle."""
    from hololoom_core.config import load_config
    from hololoom_core.engine import Engine
    from hololoom_core.models import ChatMessage

    shutil.rmtree(data_dir, ignore_errors=True)
    engine = Engine(load_config(None, data_dir=data_dir, environ={}))
    await engine.start()
    counter = itertools.count()
    results: dict[str, dict[int, float]] = {}
    try:
        await engine.handle(ChatMessage(room_id="#bench", sender="alice", body="warm up the pipeline"))
        for kind, build in KINDS.items():
            results[kind] = {}
            for size in sizes:
                best = float("inf")
                for _ in range(repeat):
                    body = build(size * 1024)[:-8] + f" {next(counter):07d}"  # distinct, same length
                    started = time.perf_counter()
                    await engine.handle(ChatMessage(room_id="#bench", sender="alice", body=body))
                    best = min(best, time.perf_counter() - started)
                results[kind][size] = best
    finally:
        await engine.close()
    return results


def _redactor_before(revision: str) -> Callable[[str], object] | None:
    """`redact_secrets` of `hololoom_core/redact.py` at `revision` (git), loaded on its own; None if absent."""
    import subprocess
    import types

    try:
        source = subprocess.run(["git", "show", f"{revision}:hololoom_core/redact.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("redact_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up while the class is built
    try:
        exec(compile(source, f"{revision}:hololoom_core/redact.py", "exec"), module.__dict__)
    except ImportError:  # that revision's redactor needs modules this checkout does not have
        return None
    function: Callable[[str], object] = module.redact_secrets
    return function


def redactor_speed(before_revision: str, repeat: int = 5000) -> None:
    """Microseconds per message of `redact_secrets` on plain chat and on secret-bearing text, before and after.

    "before" is the redactor at `before_revision`, measured in this same run, interleaved with "after".
    """
    from hololoom_core.redact import redact_secrets

    plain = "deploy of checkout-api to prod-3 finished, p99 latency back under 200 ms, closing INC-42"
    secret = "rotate it: password=Hunter2Hunter2 and AKIA" + "Q3EGPRWM5XNYTL7Z" + " in ~/.aws/credentials"
    before = _redactor_before(before_revision)
    redact_secrets(secret)  # compile the rules a secret needs (once per process), outside the clock
    if before is not None:
        before(secret)
    for label, text in (("plain chat", plain), ("with secrets", secret)):
        timings: dict[str, float] = {}
        for name, function in (("before", before), ("after", redact_secrets), ("before", before),
                               ("after", redact_secrets)):
            if function is None:
                continue
            started = time.perf_counter()
            for _ in range(repeat):
                function(text)
            elapsed = (time.perf_counter() - started) / repeat
            timings[name] = min(timings.get(name, float("inf")), elapsed)
        figures = ", ".join(f"{name} ({before_revision if name == 'before' else 'this checkout'}) "
                            f"{seconds * 1e6:.1f} µs" for name, seconds in timings.items())
        print(f"redactor per message, {label} ({len(text)} chars, best of 2 × {repeat}): {figures}")


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16,64", help="message sizes in KB, comma separated; the first is the anchor")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the best is kept)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hololoom-bench-linear"), help="scratch data dir")
    parser.add_argument("--redactor", action="store_true", help="also print the redactor's speed per message")
    parser.add_argument("--before-rev", default="eedbef7", help="git revision whose redactor is the 'before' "
                        "(default: eedbef7, the last commit before the RE2 redactor)")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    if args.redactor:
        redactor_speed(args.before_rev)
    results = asyncio.run(measure(args.dir, sizes, args.repeat))
    anchor_size = sizes[0]
    print(f"{'input':<14}" + "".join(f"{size:>4} KB ms (×/KB)".rjust(22) for size in sizes))
    worst = 0.0
    for kind, by_size in results.items():
        anchor_per_kb = by_size[anchor_size] / anchor_size
        cells = []
        for size in sizes:
            ratio = (by_size[size] / size) / anchor_per_kb
            worst = max(worst, ratio)
            cells.append(f"{by_size[size] * 1000:9.1f} ({ratio:5.2f})".rjust(22))
        print(f"{kind:<14}" + "".join(cells))
    print(f"worst per-KB ratio against the {anchor_size} KB anchor: {worst:.2f} "
          f"(1 = linear; each doubling of size doubles it when quadratic)")


if __name__ == "__main__":
    main()
