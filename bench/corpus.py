"""A synthetic, reproducible operations-chat corpus for the memory benchmarks.

Messages come from templates of the kinds of things on-call teams say (alerts, questions,
decisions, action items, banter) filled with services, hosts, people, numbers, commits and a
Zipf-distributed tail of filler words, so the term statistics (a few very common words, a long
tail) resemble real chat rather than a uniform vocabulary. Same seed, same corpus.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

SERVICES = [f"{name}-{suffix}" for name in (
    "checkout", "payments", "orders", "search", "auth", "billing", "invoice", "cart", "catalog", "profile",
    "notify", "ingest", "report", "media", "gateway", "ledger", "pricing", "shipping", "fraud", "session")
    for suffix in ("api", "worker")]
HOSTS = [f"{role}-{n:02d}.prod" for role in ("web", "db", "cache", "queue", "edge", "batch") for n in range(1, 13)]
PEOPLE = ["alice", "bob", "priya", "marco", "dana", "erin", "farid", "gwen", "hiro", "ines", "jonas", "kemal",
          "lena", "mateo", "nora", "omar", "pia", "quinn", "rosa", "sven"]
ROOMS = ["#ops", "#incidents", "#deploys", "#db", "#platform", "#random", "#security", "#payments-team"]
ERRORS = ["ECONNRESET", "ETIMEDOUT", "ECONNREFUSED", "OutOfMemoryError", "NullPointerException", "ORA-01555",
          "ERR_TLS_CERT_ALTNAME_INVALID", "DeadlockDetected", "TimeoutError", "ConnectionError"]
COMMON = ("the a is to and of it on for we in this that with be are from at now just again after before "
          "looks still think can not all new about out up so if when then some what there").split()
OPS_WORDS = ("deploy rollback restart latency errors timeout pool connections disk memory cpu queue backlog "
             "replica primary failover certificate dns cache index migration schema config flag canary release "
             "alert pager dashboard logs metrics trace pods node cluster network packet loss throughput "
             "retry backoff quota limit rate throttling vacuum autovacuum lock deadlock shard partition "
             "kafka redis postgres nginx envoy terraform helm argocd kubernetes vault secret token rotation").split()

TEMPLATES = [
    "{service} is returning {status}s since {time}, error rate at {pct}%",
    "seeing {error} from {service} on {host}",
    "p99 latency on {service} is {ms}ms, {filler}",
    "@{person} can you check the {ops} on {host}?",
    "I'll {verb} {service} after the {ops} {filler}",
    "We decided to {decision} for {service}",
    "Decision: {decision} until {day}",
    "action item: @{person} to {verb} the {ops} by {day}",
    "why is {service} {symptom}?",
    "does anyone know who owns {service}?",
    "deploy of {commit} to {service} is at {pct}%",
    "merged {commit}, {filler}",
    "{host} disk at {pct}%, cleaning up old {ops} files",
    "looks like {ops} {filler} {filler}",
    "{filler} {filler} {ops} {filler}",
    "thanks @{person}, {filler}",
    "INC-{inc}: {service} {symptom}, {person} is IC",
    "the {ops} graph https://grafana.example.com/d/{service}/{ops} {filler}",
    "config change in config/{service}/{ops}.yaml bumped the {ops} from {small} to {pct}",
    "{person} will {verb} the {ops} runbook tomorrow",
    "lunch? {filler}",
    "ok",
    "+1",
    "restarting {service} pods on {host} now",
    "{service} {ops} recovered, {filler} back to normal",
]
DECISIONS = ["roll back the {ops} change", "keep the feature flag off", "fail over to the replica",
             "freeze deploys", "postpone the {ops} migration", "switch to the new {ops} pool",
             "raise the {ops} limit to {pct}"]
VERBS = ["check", "restart", "update", "rotate", "review", "patch", "tune", "document", "roll back", "investigate"]
SYMPTOMS = ["slow", "timing out", "throwing 500s", "down", "flapping", "leaking memory", "dropping requests"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "tomorrow", "eod", "next week"]


def _filler_words(rng: random.Random, size: int = 4000) -> list[str]:
    """Pseudo-words for the long tail, pronounceable and stable for a seed."""
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "zen", "pa", "ri", "do", "fe", "gu", "xi", "bo"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class CorpusGenerator:
    """Generates chat records (room, sender, ts, body, optional thread) from a seed."""

    def __init__(self, seed: int = 7, start_ts: float = 1_760_000_000.0) -> None:
        self.rng = random.Random(seed)
        self.tail = _filler_words(self.rng)
        weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(self.tail))]
        total = sum(weights)
        self.cumulative: list[float] = []
        running = 0.0
        for weight in weights:
            running += weight / total
            self.cumulative.append(running)
        self.ts = start_ts
        self.threads: dict[str, str] = {}

    def _filler(self) -> str:
        rng = self.rng
        if rng.random() < 0.6:
            return rng.choice(COMMON if rng.random() < 0.6 else OPS_WORDS)
        import bisect

        return self.tail[min(len(self.tail) - 1, bisect.bisect_left(self.cumulative, rng.random()))]

    def body(self) -> str:
        """One message text."""
        rng = self.rng
        template = rng.choice(TEMPLATES)
        values = {
            "service": rng.choice(SERVICES), "host": rng.choice(HOSTS), "person": rng.choice(PEOPLE),
            "status": rng.choice(["500", "502", "503", "504", "429"]), "time": f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            "pct": str(rng.randint(1, 99)), "ms": str(rng.randint(80, 9000)), "error": rng.choice(ERRORS),
            "ops": rng.choice(OPS_WORDS), "verb": rng.choice(VERBS), "day": rng.choice(DAYS),
            "commit": f"{rng.randint(0x1000000, 0xFFFFFFF):07x}", "symptom": rng.choice(SYMPTOMS),
            "inc": str(rng.randint(1000, 9999)), "small": str(rng.randint(1, 20)),
        }
        values["decision"] = rng.choice(DECISIONS).format(**values)
        text = template.replace("{filler}", "\x00")
        text = text.format(**values)
        while "\x00" in text:
            text = text.replace("\x00", self._filler(), 1)
        return text

    def records(self, count: int) -> Iterator[dict[str, object]]:
        """`count` JSON-Lines records in time order."""
        rng = self.rng
        for _ in range(count):
            self.ts += rng.expovariate(1 / 20.0)
            room = rng.choice(ROOMS)
            record: dict[str, object] = {"room": room, "sender": rng.choice(PEOPLE), "ts": round(self.ts, 3),
                                         "body": self.body()}
            if rng.random() < 0.15:
                thread = self.threads.get(room)
                if thread is None or rng.random() < 0.1:
                    thread = f"t-{room.strip('#')}-{rng.randint(1, 10**9)}"
                    self.threads[room] = thread
                record["thread"] = thread
            yield record


def write_corpus(path: Path, count: int, seed: int = 7) -> Path:
    """Write `count` records as JSON Lines to `path`."""
    with path.open("w", encoding="utf-8") as handle:
        for record in CorpusGenerator(seed).records(count):
            handle.write(json.dumps(record) + "\n")
    return path


def build_store(data_dir: Path, count: int, seed: int = 7, batch: int = 20_000) -> float:
    """Store `count` generated messages in a fresh data dir through the store's own insert (row, FTS5, room and
    user rows), without the analysis steps (graph, detectors), which recall in bare and fast mode does not read.

    Returns the seconds it took. About 15-25k messages/s here, so a 1M-message corpus takes a minute or two
    instead of the real ingest's several minutes; `bench/ingest_bench.py` measures the real ingest.
    """
    import time

    from hololoom_core.config import load_config
    from hololoom_core.engine import Engine
    from hololoom_core.models import ChatMessage

    started = time.perf_counter()
    engine = Engine(load_config(None, data_dir=data_dir, environ={"HOLOLOOM_CONFIG_MODE": "bare"}))
    records = CorpusGenerator(seed).records(count)
    done = 0
    try:
        while done < count:
            with engine.store.transaction():
                for record in records:
                    body = str(record["body"])
                    thread = record.get("thread")
                    stamp = record["ts"]
                    assert isinstance(stamp, float), "records() writes ts as a float"
                    message = ChatMessage(
                        room_id=str(record["room"]), sender=str(record["sender"]), body=body, transport="import",
                        event_id=f"$bench-{seed}-{done}", ts=stamp,
                        thread_id=None if thread is None else str(thread),
                    )
                    engine.messages.insert(message, body)
                    done += 1
                    if done % batch == 0:
                        break
    finally:
        engine.store.close()
    return time.perf_counter() - started
