"""Marketplace timings: verified install (resolve, sha256, safe unpack, validate, dry run, one rename), update,
rollback, and the same install from a registry served over HTTP on 127.0.0.1.

Anchor, measured in the same run: a bare `tarfile.extractall` of the same archive (no checks at all),
so the ratio is what verification, validation and the dry run cost. Goal from the issue: rollback <= 1 s.

Run: python bench/marketplace.py [--runs N]  (prints figures; nothing is asserted)
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import statistics
import sys
import tarfile
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hololoom_core.config import Config  # noqa: E402
from hololoom_core.engine import Engine  # noqa: E402
from hololoom_core.marketplace.capability import MarketplaceRuntime  # noqa: E402
from hololoom_core.marketplace.publish import publish  # noqa: E402
from hololoom_core.marketplace.service import Marketplace  # noqa: E402
from hololoom_core.marketplace.signing import generate_key  # noqa: E402

SOURCES = Path(__file__).resolve().parent.parent / "hololoom_core" / "marketplace" / "default_sources"


def config(data_dir: Path, url: str, key: Any) -> Config:
    """A config with one registry and its key trusted (the shipped registry off)."""
    return Config.model_validate({"hololoom": {"data_dir": str(data_dir)}, "marketplace": {
        "default_registry": False, "registries": [{"name": "bench", "url": url}],
        "trusted_keys": [{"id": key.key_id, "public_key": key.public_key_b64}]}})


def percentiles(values: list[float]) -> str:
    """p50 / p95 / max in milliseconds."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"


class Quiet(SimpleHTTPRequestHandler):
    """A file server that does not log every request."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


async def engine_rollbacks(config: Config, runs: int) -> list[float]:
    """Rollbacks inside a running engine: the files, then the reload of workflows, runbooks and aliases."""
    engine = Engine(config)
    await engine.start()
    try:
        runtime = engine.capability(MarketplaceRuntime)
        timings: list[float] = []
        for _ in range(runs):
            started = time.perf_counter()
            await runtime.rollback("security-containment-kit", "bench")
            timings.append(time.perf_counter() - started)
        return timings
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="installs and rollbacks to time (default 20)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key = generate_key(tmp / "bench.key", "bench")
        registry = tmp / "registry"
        for version in ("1.0.0", "1.1.0"):
            publish(SOURCES / "security-containment-kit" / version, registry, key)
            publish(SOURCES / "incident-war-room" / version, registry, key)
        archive = (registry / "packages" / "security-containment-kit-1.0.0.tar.gz").read_bytes()

        anchor: list[float] = []
        for run in range(runs):
            started = time.perf_counter()
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                tar.extractall(tmp / f"anchor-{run}", filter="fully_trusted")
            anchor.append(time.perf_counter() - started)

        installs: list[float] = []
        updates: list[float] = []
        rollbacks: list[float] = []
        for run in range(runs):
            market = Marketplace(config(tmp / f"data-{run}", str(registry), key))
            started = time.perf_counter()
            market.commit(market.plan_install("security-containment-kit@==1.0.0"))  # + its dependency
            installs.append(time.perf_counter() - started)
            lock = market.storage.lock()
            lock["security-containment-kit"]["spec"] = ">=1,<2"
            market.storage.save_lock(lock)
            started = time.perf_counter()
            plan = market.plan_update("security-containment-kit")
            assert plan is not None
            market.commit(plan)
            updates.append(time.perf_counter() - started)
            for _ in range(5):
                started = time.perf_counter()
                market.rollback("security-containment-kit")
                rollbacks.append(time.perf_counter() - started)
        live_rollbacks = asyncio.run(engine_rollbacks(config(tmp / f"data-{runs - 1}", str(registry), key), runs))

        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(registry)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        http_installs: list[float] = []
        try:
            for run in range(runs):
                market = Marketplace(config(tmp / f"http-{run}", url, key))
                started = time.perf_counter()
                market.commit(market.plan_install("security-containment-kit@==1.0.0"))
                http_installs.append(time.perf_counter() - started)
        finally:
            server.shutdown()
            server.server_close()

    anchor_p50 = statistics.median(anchor)
    print(f"marketplace bench: {runs} runs each, 2 packages per install (security-containment-kit + its "
          f"dependency incident-war-room), archive {len(archive)} bytes")
    print(f"anchor: bare tarfile.extractall of one archive   {percentiles(anchor)}")
    print(f"install (folder registry, verified)              {percentiles(installs)}  "
          f"= {statistics.median(installs) / anchor_p50:.0f}x the anchor")
    print(f"install (HTTP registry on 127.0.0.1, verified)   {percentiles(http_installs)}  "
          f"= {statistics.median(http_installs) / anchor_p50:.0f}x the anchor")
    print(f"update 1.0.0 -> 1.1.0 within range               {percentiles(updates)}")
    print(f"rollback (n={len(rollbacks)})                            {percentiles(rollbacks)}  "
          f"goal <= 1000 ms: {'met' if max(rollbacks) <= 1.0 else 'MISSED'}")
    print(f"rollback in a running engine (n={len(live_rollbacks)}, + reload of workflows, runbooks, aliases) "
          f"{percentiles(live_rollbacks)}  goal <= 1000 ms: {'met' if max(live_rollbacks) <= 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
