"""`hololoom recall`, `hololoom detect` and `hololoom insights`: memory from the command line.

They render through the same functions as the chat commands (`!recall` and friends).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hololoom_core.cli.common import (
    CliError,
    add_common_options,
    check_readable_files,
    config_from_args,
    open_engine,
    print_json,
)


def register(subparsers: Any) -> None:
    """Add `recall`, `detect` and `insights`."""
    recall = subparsers.add_parser("recall", help="search memory (BM25, embeddings, graph) and print the messages",
                                   description="Hybrid search over every kept message. Modes: bare (FTS5 BM25), "
                                   "fast (BM25 + wordllama), fused (BM25 + MiniLM + graph, needs the semantic "
                                   "extra). A missing part degrades to the next mode with one warning.")
    recall.add_argument("query", help="what to look for")
    recall.add_argument("--mode", choices=("bare", "fast", "fused"), default=None,
                        help="retrieval mode (default: hololoom.config_mode)")
    recall.add_argument("--k", type=int, default=None, metavar="N", help="how many messages (default memory.recall_k)")
    recall.add_argument("--room", default=None, help="only this room")
    recall.add_argument("--from", dest="sender", default=None, metavar="USER", help="only messages by this sender")
    recall.add_argument("--thread", default=None, help="only this thread")
    recall.add_argument("--since", default=None, help="only newer than this (30m, 2h, 7d, 2026-11-25, ...)")
    recall.add_argument("--until", default=None, help="only older than this")
    recall.add_argument("--json", action="store_true", help="print the hits as JSON")
    add_common_options(recall)
    recall.set_defaults(handler=run_recall)

    detect = subparsers.add_parser("detect", help="show the insight types the detectors find in a text",
                                   description="Run the proactive detectors (with the pattern file and the room's "
                                   "overrides in force) on one text; nothing is stored.")
    detect.add_argument("text", help="the message text")
    detect.add_argument("--room", default="#ops", help="apply this room's pattern overrides (default #ops)")
    detect.add_argument("--as", dest="sender", default="operator", metavar="USER", help="who says it")
    detect.add_argument("--json", action="store_true", help="print the detections as JSON")
    add_common_options(detect)
    detect.set_defaults(handler=run_detect)

    insights = subparsers.add_parser("insights", help="list stored insights, newest first",
                                     description="The decisions, action items, questions, incident signals, "
                                     "answers and completions the detectors found.")
    insights.add_argument("--room", default=None, help="only this room")
    insights.add_argument("--kind", default=None, help="only this kind (decision, action_item, question, "
                          "incident_signal, answer, action_done)")
    insights.add_argument("--limit", type=int, default=50, metavar="N", help="how many (default 50)")
    insights.add_argument("--json", action="store_true", help="print as JSON")
    add_common_options(insights)
    insights.set_defaults(handler=run_insights)


async def run_recall(args: argparse.Namespace) -> int:
    """Search and print."""
    from hololoom_core.memory.views import ViewError, parse_when, recall_text

    query = args.query.strip()
    if not query:
        raise CliError("recall: the query is empty; try: hololoom recall \"checkout-api 500s\"", 2)
    if args.k is not None and not 1 <= args.k <= 1000:
        raise CliError("recall: --k must be between 1 and 1000", 2)
    from hololoom_core.memory.search import RecallFilters
    from hololoom_core.memory.service import MemoryService

    async with open_engine(args) as engine:
        memory = engine.capability(MemoryService)
        try:
            now = engine.clock.now()
            filters = RecallFilters(room_id=args.room, thread_id=args.thread, sender=args.sender,
                                    since=parse_when(args.since, now) if args.since else None,
                                    until=parse_when(args.until, now) if args.until else None)
        except ViewError as exc:
            raise CliError(f"recall: {exc}", 2)
        mode = await memory.prepare(args.mode)
        if mode != "bare":
            await memory.embed_backlog(mode)
        result = memory.recall(query, k=args.k, mode=args.mode, filters=filters)
    if args.json:
        print_json(result.as_dict())
    else:
        print(recall_text(result, filters))
    return 0


async def run_detect(args: argparse.Namespace) -> int:
    """Detect and print one line."""
    from hololoom_core.memory.detectors import analyse_text
    from hololoom_core.memory.patterns import PatternBook, PatternError

    text = args.text.strip()
    if not text:
        raise CliError("detect: the text is empty; try: hololoom detect \"we decided to roll back\"", 2)
    config = config_from_args(args)
    check_readable_files(config)
    errors: list[str] = []
    try:
        book = PatternBook.for_config(config, on_error=errors.append)
    except PatternError as exc:
        raise CliError(f"detect: {exc}")
    if book.last_error:
        print(f"hololoom: patterns: {book.last_error} (running without that file)", file=sys.stderr)
    detections = analyse_text(text, book.for_room(args.room), sender=args.sender, ts=config_now())
    if args.json:
        print_json({"text": text, "room": args.room, "detections": [d.as_dict() for d in detections]})
        return 0
    if not detections:
        print("none")
        return 0
    parts = []
    for detection in detections:
        details = [f"{key} {detection.data[key]}" for key in ("owner", "due", "severity") if key in detection.data]
        parts.append(f"{detection.kind} {detection.confidence:.2f}" + (f" ({', '.join(details)})" if details else ""))
    print(", ".join(parts))
    return 0


def config_now() -> float:
    """The current time (a seam for tests)."""
    import time

    return time.time()


async def run_insights(args: argparse.Namespace) -> int:
    """List insights."""
    from hololoom_core.text.times import format_time

    if not 1 <= args.limit <= 100000:
        raise CliError("insights: --limit must be between 1 and 100000", 2)
    async with open_engine(args) as engine:
        clauses, params = [], []
        if args.room:
            clauses.append("room_id = ?")
            params.append(args.room)
        if args.kind:
            clauses.append("kind = ?")
            params.append(args.kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = engine.store.query(
            f"SELECT id, kind, message_id, room_id, text, confidence, data, status, ts FROM insights {where} "
            "ORDER BY ts DESC, id DESC LIMIT ?",
            (*params, args.limit),
        )
    items = [{**dict(row), "data": json.loads(row["data"] or "{}")} for row in rows]
    if args.json:
        print_json(items)
        return 0
    if not items:
        print("no insights yet (they appear as messages are kept: hololoom say, hololoom ingest, the app)")
        return 0
    for item in items:
        status = f" [{item['status']}]" if item["status"] != "open" else ""
        text = " ".join(item["text"].split())
        text = text if len(text) <= 100 else text[:99] + "…"
        print(f"#{item['id']} {format_time(item['ts'])} {item['room_id']} {item['kind']} {item['confidence']:.2f}"
              f"{status} msg #{item['message_id']}: {text}")
    return 0
