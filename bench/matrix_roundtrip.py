"""Round trip of the HoloLoom Matrix bot against a bare matrix-nio echo bot, on one throwaway Synapse.

Starts Synapse (the test harness), a bare matrix-nio echo bot and `hololoom bot` as separate processes,
each in its own room with one measuring person. Sends are interleaved (echo, HoloLoom, echo, ...) so
both see the same server conditions. Prints p50/p95 round trips (person → bot → person, measured at the
person's client from send to the reply arriving through sync) for `!ping` and for a question, their ratio
to the echo bot, and the throughput with 8 messages in flight.

    python bench/matrix_roundtrip.py [--pings 60] [--questions 20] [--burst 80] [--shm] [--profile-bot FILE]

With `--profile-bot FILE` the HoloLoom bot runs under cProfile and its statistics are written to FILE
when it stops (read them with `python -m pstats FILE`, e.g. `sort cumulative`, `stats answer`); the
figures of such a run are slower than usual.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nio import AsyncClient, AsyncClientConfig, RoomCreateResponse, RoomSendResponse, SyncResponse  # noqa: E402

from hololoom_core.testing.synapse import MatrixUser, SynapseServer  # noqa: E402

QUESTION = "hololoom: the disk on db-1 is almost full, what should I do?"


# -- the bare echo bot (run as `matrix_roundtrip.py --echo-bot URL USER TOKEN DEVICE`) -----------------------


async def echo_bot(homeserver: str, user_id: str, token: str, device_id: str) -> None:
    """A bare matrix-nio bot: joins invites, answers `!ping` with `pong` and echoes everything else."""
    from nio import InviteMemberEvent, MatrixRoom, RoomMessageText

    client = AsyncClient(homeserver, user_id, device_id=device_id,
                         config=AsyncClientConfig(encryption_enabled=False))
    client.user_id, client.access_token = user_id, token

    async def on_message(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == user_id:
            return
        body = "pong" if event.body.strip() == "!ping" else event.body
        await client.room_send(room.room_id, "m.room.message", {
            "msgtype": "m.notice", "body": body, "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
        })

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == user_id and event.membership == "invite":
            await client.join(room.room_id)

    first = await client.sync(timeout=0)
    assert isinstance(first, SyncResponse), first
    for room_id in first.rooms.invite:
        await client.join(room_id)
    client.add_event_callback(on_message, RoomMessageText)
    client.add_event_callback(on_invite, InviteMemberEvent)
    # Without this filter its own replies use up the default timeline limit (10) and it misses messages.
    await client.sync_forever(timeout=30_000, since=first.next_batch,
                              sync_filter={"room": {"timeline": {"limit": 50, "not_senders": [user_id]}}})


# -- the bot under cProfile (run as `matrix_roundtrip.py --profiled-bot FILE -- hololoom arguments`) -----------


def profiled_bot(output: str, argv: list[str]) -> int:
    """Run `hololoom ARGS` under cProfile; a SIGTERM stops it like Ctrl-C, and the statistics go to `output`."""
    import cProfile
    import signal

    from hololoom_core.cli.main import main as hololoom

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    profile = cProfile.Profile()
    profile.enable()
    try:
        return hololoom(argv)
    except KeyboardInterrupt:
        return 0
    finally:
        profile.disable()
        profile.dump_stats(output)


# -- the measuring person ------------------------------------------------------------------------------


class Person:
    """A client that timestamps every reply it receives, keyed by the event it replies to."""

    def __init__(self, homeserver: str, user: MatrixUser) -> None:
        self.client = AsyncClient(homeserver, user.user_id, device_id=user.device_id,
                                  config=AsyncClientConfig(encryption_enabled=False))
        self.client.user_id, self.client.access_token = user.user_id, user.access_token
        self.arrivals: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.joined: set[tuple[str, str]] = set()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        first = await self.client.sync(timeout=0)
        assert isinstance(first, SyncResponse), first
        self.task = asyncio.ensure_future(self.loop())

    async def loop(self) -> None:
        while True:
            response = await self.client.sync(timeout=30_000, sync_filter={"room": {"timeline": {"limit": 100}}})
            now = time.perf_counter()
            if not isinstance(response, SyncResponse):
                continue
            for room_id, info in response.rooms.join.items():
                for event in info.timeline.events:
                    source = getattr(event, "source", {}) or {}
                    if source.get("type") == "m.room.member" and (source.get("content") or {}).get("membership") == "join":
                        self.joined.add((room_id, source.get("state_key", "")))
                    relates = (source.get("content") or {}).get("m.relates_to") or {}
                    target = (relates.get("m.in_reply_to") or {}).get("event_id")
                    if target and target not in self.arrivals:
                        self.arrivals[target] = now
                        waiter = self.waiters.pop(target, None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(now)

    async def round_trip(self, room_id: str, body: str, timeout: float = 60.0) -> float:
        """Send `body`; return seconds until the bot's reply arrived."""
        started = time.perf_counter()
        response = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        assert isinstance(response, RoomSendResponse), response
        if response.event_id in self.arrivals:
            return self.arrivals[response.event_id] - started
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[response.event_id] = waiter
        try:
            arrived = await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise SystemExit(f"no reply to {body!r} in {room_id} within {timeout} s (sync task alive: "
                             f"{self.task is not None and not self.task.done()})")
        return arrived - started

    async def wait_joined(self, room_id: str, user_id: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while (room_id, user_id) not in self.joined:
            if time.monotonic() > deadline:
                raise SystemExit(f"{user_id} did not join {room_id} in {timeout} s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.client.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 0.5) * 1000, "p95": percentile(values, 0.95) * 1000,
            "mean": statistics.fmean(values) * 1000}


async def throughput(person: Person, room_id: str, body: str, total: int, in_flight: int = 8) -> float:
    """Messages answered per second with `in_flight` messages outstanding at any time."""
    semaphore = asyncio.Semaphore(in_flight)

    async def one(n: int) -> None:
        async with semaphore:
            await person.round_trip(room_id, f"{body} {n}" if body != "!ping" else body)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(total)))
    return total / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> None:
    parent = "/dev/shm" if args.shm and os.path.isdir("/dev/shm") else None
    work = Path(tempfile.mkdtemp(prefix="hololoom-bench-", dir=parent))
    hs = SynapseServer()
    processes: list[subprocess.Popen[bytes]] = []
    person: Person | None = None
    try:
        await asyncio.to_thread(hs.start)
        human = await asyncio.to_thread(hs.create_user, "person", "person-pw")
        echo = await asyncio.to_thread(hs.create_user, "echo", "echo-pw")
        bot = await asyncio.to_thread(hs.create_user, "hololoom", "hololoom-pw")
        config = {
            "matrix": {"homeserver": hs.base_url, "user_id": bot.user_id, "access_token": bot.access_token,
                       "device_id": bot.device_id, "auto_join_users": [human.user_id], "encryption": False},
            "hololoom": {"data_dir": str(work / "data"), "config_mode": "bare"},
            "store": {"synchronous": args.synchronous},
        }
        (work / "bot.yaml").write_text(yaml.safe_dump(config))
        log = open(work / "bots.log", "ab")  # noqa: SIM115
        processes.append(subprocess.Popen(
            [sys.executable, __file__, "--echo-bot", hs.base_url, echo.user_id, echo.access_token, echo.device_id],
            stdout=log, stderr=log, cwd=ROOT))
        bot_args = ["bot", "--config", str(work / "bot.yaml"), "--log-level", args.bot_log_level]
        launcher = ([sys.executable, __file__, "--profiled-bot", str(Path(args.profile_bot).resolve()), "--"]
                    if args.profile_bot else [sys.executable, "-m", "hololoom_core.cli"])
        processes.append(subprocess.Popen([*launcher, *bot_args], stdout=log, stderr=log, cwd=ROOT))
        person = Person(hs.base_url, human)
        await person.start()
        await asyncio.sleep(1.5)  # both bots log in and do their first sync
        rooms = {}
        for name, user in (("echo", echo), ("hololoom", bot)):
            created = await person.client.room_create(name=f"bench-{name}", invite=[user.user_id])
            assert isinstance(created, RoomCreateResponse), created
            rooms[name] = created.room_id
            await person.wait_joined(created.room_id, user.user_id)
        for _ in range(5):  # warm up both paths
            for name in rooms:
                await person.round_trip(rooms[name], "!ping")
                await person.round_trip(rooms[name], QUESTION)
        results: dict[str, dict[str, list[float]]] = {name: {"ping": [], "question": []} for name in rooms}
        bot_processes = {"echo": psutil.Process(processes[0].pid), "hololoom": psutil.Process(processes[1].pid)}
        cpu_before = {name: sum(process.cpu_times()[:2]) for name, process in bot_processes.items()}
        for _ in range(args.pings):
            for name in rooms:
                results[name]["ping"].append(await person.round_trip(rooms[name], "!ping"))
        cpu_ms = {name: (sum(process.cpu_times()[:2]) - cpu_before[name]) / args.pings * 1000
                  for name, process in bot_processes.items()}
        for _ in range(args.questions):
            for name in rooms:
                results[name]["question"].append(await person.round_trip(rooms[name], QUESTION))
        rates = {}
        for name in rooms:
            try:
                rates[name] = await throughput(person, rooms[name], "!ping", args.burst)
            except TimeoutError:
                raise SystemExit(f"{name}: a reply did not arrive within 60 s during the throughput run "
                                 f"(see {work}/bots.log; run with --keep)")
        print(f"Synapse {hs.base_url} (data {'on /dev/shm' if hs.data_dir.parts[1] == 'dev' else 'on disk'}); "
              f"HoloLoom data in {work} (synchronous={args.synchronous})")
        print(f"{'kind':<10}{'bot':<10}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}   n")
        for kind in ("ping", "question"):
            for name in rooms:
                figures = summary(results[name][kind])
                print(f"{kind:<10}{name:<10}{figures['p50']:>9.1f}{figures['p95']:>9.1f}{figures['mean']:>9.1f}"
                      f"   {len(results[name][kind])}")
            echo_p50 = summary(results["echo"][kind])["p50"]
            bot_fig = summary(results["hololoom"][kind])
            print(f"{kind:<10}{'ratio':<10}{bot_fig['p50'] / echo_p50:>9.2f}"
                  f"{bot_fig['p95'] / summary(results['echo'][kind])['p95']:>9.2f}   (HoloLoom / echo)")
        print(f"bot CPU per !ping (user+system): echo {cpu_ms['echo']:.1f} ms, HoloLoom {cpu_ms['hololoom']:.1f} ms; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"throughput with 8 in flight ({args.burst} x !ping): echo {rates['echo']:.1f} msg/s, "
              f"HoloLoom {rates['hololoom']:.1f} msg/s (ratio {rates['hololoom'] / rates['echo']:.2f})")
    finally:
        if person is not None:
            await person.stop()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        await asyncio.to_thread(hs.stop)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=60, help="measured !ping round trips per bot")
    parser.add_argument("--questions", type=int, default=20, help="measured question round trips per bot")
    parser.add_argument("--burst", type=int, default=80, help="messages per bot in the throughput run")
    parser.add_argument("--shm", action="store_true", help="keep HoloLoom's data on /dev/shm (like Synapse's)")
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full", help="store.synchronous")
    parser.add_argument("--bot-log-level", default="WARNING", help="log level of the HoloLoom bot process")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    parser.add_argument("--profile-bot", metavar="FILE", help="run the HoloLoom bot under cProfile, stats to FILE")
    parser.add_argument("--echo-bot", nargs=4, metavar=("URL", "USER", "TOKEN", "DEVICE"), help=argparse.SUPPRESS)
    if len(sys.argv) > 2 and sys.argv[1] == "--profiled-bot":
        sys.exit(profiled_bot(sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:]))
    args = parser.parse_args()
    if args.echo_bot:
        asyncio.run(echo_bot(*args.echo_bot))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
