"""Workflow timings: start-to-finish of a 12-step run, an approval round trip, and a scheduler tick
with many waiting runs. Every step is a durable SQLite write (synchronous=full) on a temp dir.

Run: python bench/workflow_bench.py  (prints figures; nothing is asserted)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hololoom_core.config import Config  # noqa: E402
from hololoom_core.engine import Engine  # noqa: E402
from hololoom_core.ops.workflows.service import WorkflowService

LONG = """\
name: long
params:
  n: "3"
steps:
  - set: {a: 1, b: "{{ n }}"}
  - say: "start {{ b }}"
  - if: "a == 1 and b in ['3', '4']"
    then:
      - set: {c: yes}
      - say: "then {{ c }}"
    else:
      - say: never
  - set: {d: "{{ a }}"}
  - say: "d is {{ d }}"
  - set: {e: done}
  - say: "{{ e }}"
  - say: "end"
"""
GATE = "name: gate\nsteps:\n  - ask: ok?\n  - say: approved\n"
WAIT = "name: waiting\nsteps:\n  - wait: 1h\n  - say: woke\n"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        flows = Path(tmp) / "flows"
        flows.mkdir()
        (flows / "long.yaml").write_text(LONG)
        (flows / "gate.yaml").write_text(GATE)
        (flows / "waiting.yaml").write_text(WAIT)
        config = Config.model_validate({"hololoom": {"data_dir": tmp},
                                        "workflows": {"directory": str(flows), "load_shipped": False,
                                                      "tick_seconds": 3600}})
        engine = Engine(config)
        await engine.start()
        service = engine.capability(WorkflowService)
        runs = 200
        start = time.perf_counter()
        for _ in range(runs):
            await service.start_run("long", {}, user="bench", room_id="#bench")
        elapsed = time.perf_counter() - start
        steps = sum(run.steps_done for run in service.runs.recent(runs))
        print(f"12-step run, start to finish: {elapsed / runs * 1000:.1f} ms per run, "
              f"{steps / elapsed:.0f} steps/s ({runs} runs)")

        latencies = []
        for _ in range(100):
            await service.start_run("gate", {}, user="bench", room_id="#bench")
            run_id = service.runs.recent(1)[0].id
            begin = time.perf_counter()
            await service.approve(str(run_id), user="approver", room_id="#bench")
            latencies.append((time.perf_counter() - begin) * 1000)
        print(f"approval round trip (approve -> run finished): p50 {statistics.median(latencies):.1f} ms, "
              f"max {max(latencies):.1f} ms (100 runs)")

        for _ in range(500):
            await service.start_run("waiting", {}, user="bench", room_id="#bench")
        begin = time.perf_counter()
        await service.tick()
        idle_tick = (time.perf_counter() - begin) * 1000
        engine.clock = type("Later", (), {"now": staticmethod(lambda: time.time() + 7200),
                                          "perf": staticmethod(time.perf_counter)})()
        begin = time.perf_counter()
        fired = await service.tick()
        busy_tick = (time.perf_counter() - begin) * 1000
        print(f"scheduler tick with 500 waiting runs: {idle_tick:.1f} ms when none is due; "
              f"{busy_tick:.0f} ms to resume and finish {fired} due runs ({busy_tick / max(fired, 1):.2f} ms each)")
        await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
