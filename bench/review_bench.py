"""Code review timings: how long `!review` takes on a snippet, a 1,000-line file and a diff.

Run: python bench/review_bench.py  (prints figures; nothing is asserted)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hololoom_core.config import ReviewConfig  # noqa: E402
from hololoom_core.ops.review.inputs import guess_language  # noqa: E402
from hololoom_core.ops.review.models import ReviewItem  # noqa: E402
from hololoom_core.ops.review.service import CodeReviewer  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "review_samples"


def big_file(functions: int = 100) -> str:
    """A ~1,000-line Python module with a few real problems sprinkled in."""
    parts = ["import os\nimport subprocess\n\n"]
    for number in range(functions):
        body = "    return subprocess.call('ls ' + path, shell=True)\n" if number % 25 == 0 else \
            f"    total = sum(range({number}))\n    return total + len(path)\n"
        parts.append(f"\n\ndef handler_{number}(path: str) -> int:\n    \"\"\"Handler {number}.\"\"\"\n"
                     f"    if not path:\n        raise ValueError('path')\n    os.stat(path)\n{body}")
    return "".join(parts)


async def timed(reviewer: CodeReviewer, items: list[ReviewItem], runs: int) -> tuple[float, float, int]:
    durations = []
    findings = 0
    for _ in range(runs):
        start = time.perf_counter()
        report = await reviewer.review(items)
        durations.append((time.perf_counter() - start) * 1000)
        findings = len(report.findings)
    return statistics.median(durations), max(durations), findings


async def main() -> None:
    reviewer = CodeReviewer(ReviewConfig())
    cases = {
        "snippet (shell_injection.py, 8 lines)": [ReviewItem("s.py", (SAMPLES / "shell_injection.py").read_text(),
                                                             "python")],
        "diff (change.diff, 3 added lines)": [ReviewItem("c.diff", (SAMPLES / "change.diff").read_text(), "diff")],
        "javascript (secrets only)": [ReviewItem("d.js", (SAMPLES / "deploy_config.js").read_text(), "javascript")],
        f"python file ({len(big_file().splitlines())} lines)": [ReviewItem("big.py", big_file(), "python")],
    }
    print(f"{'case':45} {'p50 ms':>8} {'max ms':>8} {'findings':>9}")
    for name, items in cases.items():
        for item in items:
            assert guess_language(item.text, item.name) in ("python", "diff", "javascript")
        p50, worst, findings = await timed(reviewer, items, runs=5)
        print(f"{name:45} {p50:8.0f} {worst:8.0f} {findings:9d}")


if __name__ == "__main__":
    asyncio.run(main())
