"""Bulk ingest of chat history: JSON Lines of messages, or an Element room export (JSON).

Records are validated one by one; a bad record stops the ingest with one line naming it (line
number, or `messages[i]` in an Element export) and what is wrong, and every record before it stays
stored. Good records go through the engine's own steps in two stages per batch, so a bulk ingest
leaves exactly what live messages would, only faster:

- store: `Engine.keep_batch` (redact, store, FTS index) in one transaction per batch;
- analyse: `Engine.notice_batch` on the batch just stored, that is memory's analysis (entities, graph,
  detectors, insights, tracked items) in one transaction with its watermark (memory/analysis.py),
  so an ingest killed during analysis resumes where it stopped when the engine next starts.

Embeddings follow in batches (fast and fused modes).
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hololoom_core.memory.service import MemoryService
from hololoom_core.models import ChatMessage

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

JSONL_REQUIRED = ("room", "sender", "ts", "body")
JSONL_OPTIONAL = ("thread", "event_id", "sender_name", "reply_to", "room_name")
_REQUIRED_KEYS = frozenset(JSONL_REQUIRED)
_ALLOWED_KEYS = frozenset(JSONL_REQUIRED + JSONL_OPTIONAL)
_SPACE = re.compile(r"\s")


class IngestError(Exception):
    """One bad record: where it is and what is wrong, in one line."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(slots=True)
class IngestRecord:
    """A validated message and where it came from in the file."""

    where: str
    message: ChatMessage


@dataclass(slots=True)
class IngestReport:
    """What an ingest did."""

    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    insights: int = 0
    analysed: int = 0
    embedded: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    store_seconds: float = 0.0
    analyse_seconds: float = 0.0
    embed_seconds: float = 0.0
    format: str = "jsonl"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"format": self.format, "stored": self.stored, "duplicates": self.duplicates,
                "skipped": self.skipped, "analysed": self.analysed, "insights": self.insights,
                "embedded": self.embedded, "errors": list(self.errors), "seconds": round(self.seconds, 3),
                "stages": {"store": round(self.store_seconds, 3), "analyse": round(self.analyse_seconds, 3),
                           "embed": round(self.embed_seconds, 3)}}


def _timestamp(value: Any, where: str) -> float:
    """Epoch seconds from seconds, milliseconds (values past year 5138 in seconds) or an ISO 8601 string."""
    if isinstance(value, bool):
        raise IngestError(where, "'ts' must be epoch seconds, milliseconds or an ISO 8601 time, not true/false")
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise IngestError(where, f"'ts' {value!r} is not a valid time")
        return number / 1000.0 if number > 1e11 else number
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise IngestError(where, f"'ts' {value!r} is not an ISO 8601 time (e.g. 2026-11-25T14:02:00Z)")
        if parsed.tzinfo is None:
            from datetime import UTC

            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise IngestError(where, f"'ts' must be a number or an ISO 8601 string, not {type(value).__name__}")


def _event_id(room: str, sender: str, ts: float, body: str) -> str:
    digest = hashlib.sha1(f"{room}\x1f{sender}\x1f{ts!r}\x1f{body}".encode()).hexdigest()[:24]
    return f"$import-{digest}"


def jsonl_record(data: Any, where: str) -> IngestRecord:
    """Validate one JSON Lines record (room, sender, ts, body, optional thread...)."""
    if not isinstance(data, dict):
        raise IngestError(where, f"a record must be a JSON object, not {type(data).__name__}")
    keys = data.keys()
    if not (_REQUIRED_KEYS <= keys and keys <= _ALLOWED_KEYS):  # the usual record passes with two set tests
        missing = [key for key in JSONL_REQUIRED if key not in data]
        unknown = sorted(set(data) - _ALLOWED_KEYS)
        if missing:
            typo = f"; unknown key(s) {', '.join(repr(k) for k in unknown)} (a typo?)" if unknown else ""
            raise IngestError(where, f"missing {', '.join(repr(k) for k in missing)} (each record needs room, "
                                     f"sender, ts and body){typo}")
        raise IngestError(where, f"unknown key(s) {', '.join(repr(k) for k in unknown)}; allowed: "
                                 f"{', '.join(JSONL_REQUIRED + JSONL_OPTIONAL)}")
    room, sender, body = data["room"], data["sender"], data["body"]
    for key, value in (("room", room), ("sender", sender)):
        if type(value) is not str or not value or _SPACE.search(value) is not None:
            raise IngestError(where, f"'{key}' must be a non-empty string without spaces, got {value!r}")
    if type(body) is not str:
        raise IngestError(where, f"'body' must be a string, not {type(body).__name__}")
    if not body or body.isspace():
        raise IngestError(where, "'body' is empty")
    for key in JSONL_OPTIONAL:
        value = data.get(key)
        if value is not None and type(value) is not str:
            raise IngestError(where, f"'{key}' must be a string or null, not {type(value).__name__}")
    ts = _timestamp(data["ts"], where)
    return IngestRecord(where, ChatMessage(
        room_id=room, sender=sender, body=body, transport="import", ts=ts,
        event_id=data.get("event_id") or _event_id(room, sender, ts, body), thread_id=data.get("thread") or None,
        reply_to=data.get("reply_to"), sender_name=data.get("sender_name"), room_name=data.get("room_name"),
    ))


def element_record(event: Any, where: str, room_fallback: str) -> IngestRecord | None:
    """Validate one event of an Element export; None for events that are not text messages (skipped)."""
    if not isinstance(event, dict):
        raise IngestError(where, f"an event must be a JSON object, not {type(event).__name__}")
    if event.get("type") != "m.room.message":
        return None
    content = event.get("content")
    if not isinstance(content, dict):
        raise IngestError(where, "'content' must be an object")
    relation = content.get("m.relates_to")
    relates: dict[str, Any] = relation if isinstance(relation, dict) else {}
    if relates.get("rel_type") == "m.replace" or not content:
        return None  # an edit (the export also has the edited text) or a redacted event
    body = content.get("body")
    if not isinstance(body, str):
        raise IngestError(where, "'content.body' is missing or not a string")
    if not body.strip():
        return None
    sender = event.get("sender")
    if not isinstance(sender, str) or not sender:
        raise IngestError(where, "'sender' is missing or not a string")
    if "origin_server_ts" not in event:
        raise IngestError(where, "'origin_server_ts' is missing")
    ts = _timestamp(event["origin_server_ts"], where)
    event_id = event.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise IngestError(where, "'event_id' must be a string")
    room_id = event.get("room_id")
    room: str = room_id if isinstance(room_id, str) else room_fallback
    thread = relates.get("event_id") if relates.get("rel_type") == "m.thread" else None
    reply = relates.get("m.in_reply_to", {}).get("event_id") if isinstance(relates.get("m.in_reply_to"), dict) else None
    return IngestRecord(where, ChatMessage(
        room_id=room, sender=sender, body=body, transport="import", ts=ts,
        event_id=event_id or _event_id(room, sender, ts, body), thread_id=thread, reply_to=reply,
    ))


def detect_format(path: Path) -> str:
    """`element` for an Element room export (one JSON object with `messages`), else `jsonl`."""
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    if not head.startswith(b"{"):
        return "jsonl"
    first_line = head.split(b"\n", 1)[0].strip()
    if b'"messages"' not in head:
        return "jsonl"
    try:
        first = json.loads(first_line)
    except ValueError:
        return "element"  # a multi-line JSON document
    # One line holding a whole export is Element; a line with chat fields is JSON Lines.
    return "element" if isinstance(first, dict) and isinstance(first.get("messages"), list) else "jsonl"


def count_records(path: Path, file_format: str) -> int | None:
    """How many records the file has (for the progress bar), cheaply."""
    if file_format != "jsonl":
        return None
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def read_records(path: Path, file_format: str | None = None) -> Iterator[IngestRecord | IngestError | None]:
    """Yield validated records in file order: None for skipped events, an `IngestError` for a bad record.

    A file that cannot be read at all raises `IngestError`.
    """
    file_format = file_format or detect_format(path)
    if file_format == "element":
        try:  # bytes that are not UTF-8 are kept as U+FFFD, like every other boundary
            data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            raise IngestError(f"{path}:{exc.lineno}", f"not valid JSON ({exc.msg})")
        messages = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(messages, list):
            raise IngestError(str(path), "an Element export needs a 'messages' list (Export chat → JSON)")
        fallback = str(data.get("room_name") or path.stem)
        for index, event in enumerate(messages):
            where = f"{path.name} messages[{index}]"
            if isinstance(event, dict) and isinstance(event.get("event_id"), str):
                where += f" ({event['event_id']})"
            try:
                yield element_record(event, where, fallback)
            except IngestError as exc:
                yield exc
        return
    name = path.name
    with path.open("r", encoding="utf-8", errors="replace") as handle:  # bad bytes are kept as U+FFFD
        number = 0
        while True:
            line = handle.readline()
            if not line:
                return
            number += 1
            where = f"{name}:{number}"
            if not line.strip():
                yield None
                continue
            try:
                yield jsonl_record(json.loads(line), where)
            except json.JSONDecodeError as exc:
                yield IngestError(where, f"not valid JSON ({exc.msg} at column {exc.colno})")
            except IngestError as exc:
                yield exc


ProgressCallback = Callable[[str, int, int | None, float], None]
"""progress(stage, done, total, seconds): stage `store`, `analyse` or `embed`; `seconds` is that stage's busy time."""


def _next_batch(records: Iterator[IngestRecord | IngestError | None], batch_size: int, report: IngestReport,
                skip_bad: bool) -> tuple[list[ChatMessage], int, bool]:
    """Up to `batch_size` good records as history messages; how many records were read; whether input is done."""
    batch: list[ChatMessage] = []
    seen = 0
    for record in records:
        if isinstance(record, IngestError):
            report.errors.append(str(record))
            if not skip_bad:
                return batch, seen, True
            continue
        seen += 1
        if record is None:
            report.skipped += 1
        else:
            record.message.actionable = False  # history: nothing in it is answered now
            batch.append(record.message)
            if len(batch) >= batch_size:
                return batch, seen, False
    return batch, seen, True


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector for one batch: its thousands of short-lived objects are freed by
    reference counting, and a collection in the middle of a batch (which walks every live object) costs
    about a sixth of the store stage. It runs again between batches."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def ingest_file(
    engine: Engine,
    path: Path,
    *,
    batch_size: int = 2000,
    skip_bad: bool = False,
    embed: bool = True,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Ingest a file through the engine's own steps, batch by batch: store (`keep_batch`), analyse
    (`notice_batch`), then embed what was stored.

    Stage `store`: each batch is stored and indexed (BM25-searchable) in one durable transaction, as
    history (`actionable=False`: no command or question in it is acted on). Stage `analyse`: the
    engine's analysis of that batch, with the rows in hand (memory's: entities, graph, detectors,
    insights and tracked items, in one transaction with its watermark, so an ingest killed during
    analysis resumes where it stopped when the engine next starts). Then the embeddings, when the
    mode has any.
    """
    import time

    started = time.perf_counter()
    if not path.is_file():
        raise IngestError(str(path), "no such file")
    file_format = detect_format(path)
    report = IngestReport(format=file_format)
    total = count_records(path, file_format)
    memory = engine.find_capability(MemoryService)
    records = read_records(path, file_format)
    seen = 0
    finished = False
    while not finished:
        with _collector_paused():
            clock = time.perf_counter()
            batch, read, finished = _next_batch(records, batch_size, report, skip_bad)
            seen += read
            kept = engine.keep_batch(batch)
            report.duplicates += len(batch) - len(kept)
            report.stored += len(kept)
            report.store_seconds += time.perf_counter() - clock
        if progress is not None:
            progress("store", seen, total, report.store_seconds)
        if kept:
            with _collector_paused():
                clock = time.perf_counter()
                report.insights += len(engine.notice_batch(kept))
                report.analysed += len(kept)
                report.analyse_seconds += time.perf_counter() - clock
            if progress is not None:
                progress("analyse", report.analysed, total, report.analyse_seconds)
    if embed and memory is not None and memory.requested_mode != "bare":
        clock = time.perf_counter()
        mode = await memory.prepare()
        if mode != "bare":
            report.embedded = await memory.embed_backlog(
                mode, batch_size=4096,
                progress=(lambda done, all_: progress("embed", done, all_, time.perf_counter() - clock))
                if progress else None)
        report.embed_seconds = time.perf_counter() - clock
    engine.publish_stats()
    report.seconds = time.perf_counter() - started
    return report

