"""Benchmark: `hololoom-tui` start-up as an operator sees it: time to the first frame, and idle RSS.

Each run starts `python -m hololoom_tui --data-dir <fresh temp dir>` in a pseudo-terminal (120x40),
as a terminal would, and records the time from spawning the process until the first frame is on the
terminal (the tab row, "Self-Improving", has been written). It then waits until the app is idle
with the engine started (RSS stable for a second) and reads the process's resident memory from
/proc. The anchor is `python -c "import textual.app"` measured in the same run, so the figures can
be compared across machines as ratios.

    python bench/startup_bench.py [--runs 5] [--mode fast|bare|fused] [--code DIR ...]

`--code DIR` measures another checkout (it is put first on PYTHONPATH); give it several times (e.g. main and
this worktree) for a before/after in the same run: the runs of the checkouts are interleaved.
Goals (issue 9): first frame <= 0.8 s, idle RSS in fast mode <= 150 MB.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

FIRST_FRAME_MARKER = b"Self-Improving"
COLUMNS, ROWS = 120, 40


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def anchor_seconds(python: str, runs: int) -> float:
    """Median wall time of `python -c "import textual.app"`."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([python, "-c", "import textual.app"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def drain(fd: int, timeout: float) -> bytes:
    """Whatever the terminal shows within `timeout` seconds (empty when nothing)."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def one_run(python: str, code: Path, mode: str, settle: float) -> tuple[float, float]:
    """Start the app once in a pty; return (seconds to first frame, idle RSS in MB)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    with tempfile.TemporaryDirectory(prefix="hololoom-startup-") as data_dir:
        environ = {
            **os.environ,
            "PYTHONPATH": str(code),
            "TERM": "xterm-256color",
            "HOLOLOOM_CONFIG_MODE": mode,
            "HOLOLOOM_DATA_DIR": data_dir,
            "XDG_CONFIG_HOME": data_dir,  # no user config file: the defaults, as on a fresh machine
            "TEXTUAL_ANIMATIONS": "none",
        }
        environ.pop("HOLOLOOM_CONFIG", None)
        start = time.perf_counter()
        process = subprocess.Popen(
            [python, "-m", "hololoom_tui", "--data-dir", data_dir],
            stdin=slave, stdout=slave, stderr=slave, env=environ, cwd=code, start_new_session=True,
        )
        os.close(slave)
        seen = b""
        first_frame = None
        try:
            while first_frame is None:
                chunk = drain(master, 30.0)
                if not chunk:
                    raise RuntimeError(f"no first frame within 30 s; output so far: {seen[-400:]!r}")
                seen += chunk
                if FIRST_FRAME_MARKER in seen:
                    first_frame = time.perf_counter() - start
            # Idle: keep reading the terminal (a full pty would block the app) until RSS is stable for a second.
            previous, stable_since, deadline = 0.0, time.perf_counter(), time.perf_counter() + 60
            while time.perf_counter() < deadline:
                drain(master, 0.2)
                current = rss_mb(process.pid)
                if abs(current - previous) > 1.0:
                    previous, stable_since = current, time.perf_counter()
                elif time.perf_counter() - stable_since >= settle:
                    break
            idle = rss_mb(process.pid)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            os.close(master)
    return first_frame, idle


def main() -> None:
    """Measure and print the figures with the anchor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", default="fast", choices=["bare", "fast", "fused"])
    parser.add_argument("--code", type=Path, action="append",
                        help="a checkout to measure (repeatable; default: this one)")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds of stable RSS that count as idle")
    args = parser.parse_args()
    python = sys.executable
    checkouts = [code.resolve() for code in (args.code or [Path(__file__).resolve().parent.parent])]
    anchor = anchor_seconds(python, args.runs)
    frames: dict[Path, list[float]] = {code: [] for code in checkouts}
    memories: dict[Path, list[float]] = {code: [] for code in checkouts}
    for _ in range(args.runs):
        for code in checkouts:
            frame, memory = one_run(python, code, args.mode, args.settle)
            frames[code].append(frame)
            memories[code].append(memory)
    anchor = statistics.median([anchor, anchor_seconds(python, args.runs)])  # before and after the runs
    print(f"mode: {args.mode}  runs: {args.runs} per checkout, interleaved")
    print(f"anchor `python -c 'import textual.app'`: {anchor:.3f} s")
    for code in checkouts:
        frame, memory = statistics.median(frames[code]), statistics.median(memories[code])
        print(f"{code}")
        print(f"  first frame: median {frame:.3f} s (min {min(frames[code]):.3f}, max {max(frames[code]):.3f}) "
              f"= {frame / anchor:.1f}x anchor   goal <= 0.8 s: {'met' if frame <= 0.8 else 'NOT met'}")
        print(f"  idle RSS ({args.mode}): median {memory:.0f} MB (min {min(memories[code]):.0f}, "
              f"max {max(memories[code]):.0f})   goal <= 150 MB: {'met' if memory <= 150 else 'NOT met'}")


if __name__ == "__main__":
    main()
