"""`hololoom learn export|docs|status`: training data and best-practice pages from the team's rated answers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hololoom_core.cli.common import EXIT_USAGE, CliError, add_common_options, open_engine, print_json

PROGRESS_FROM = 500  # records: smaller exports finish before a bar would show anything


def register(subparsers: Any) -> None:
    """Add `learn` and its subcommands."""
    parser = subparsers.add_parser("learn", help="export training data or write best-practice docs",
                                   description="Mine the answers the team rated (👍, judged quality, no 👎 or "
                                   "re-ask) and resolved incidents into a dataset or Markdown pages. Consent: "
                                   "the learning: config section and !learning optout.")
    sub = parser.add_subparsers(dest="learn_command", metavar="SUBCOMMAND")
    export = sub.add_parser("export", help="write train.jsonl, preference.jsonl and a dataset card into DIR",
                            description="Write DIR/train.jsonl (chat messages with provenance), "
                            "DIR/preference.jsonl (prompt/chosen/rejected), DIR/README.md (dataset card), the "
                            "redaction log and the JSON Schemas. Files are readable by you only (0600).")
    export.add_argument("directory", metavar="DIR", help="where to write the dataset (created if missing)")
    export.add_argument("--min-quality", type=float, default=None, metavar="Q",
                        help="judged quality an answer needs, 0..1 (default: learning.min_quality)")
    export.add_argument("--since", default=None, metavar="DATE",
                        help="only records from this date on: YYYY-MM-DD or an ISO time (UTC unless given)")
    export.add_argument("--format", dest="fmt", choices=("messages", "preference", "both"), default="both",
                        help="messages: train.jsonl only; preference: preference.jsonl only; both (default)")
    export.add_argument("--json", action="store_true", help="print the export summary as JSON")
    add_common_options(export)
    export.set_defaults(handler=run_export)
    docs = sub.add_parser("docs", help="write one best-practice page per topic and an index into DIR",
                          description="Group the kept answers into topics (runbook, service, agent) and write a "
                          "Markdown page per topic citing room, time and interaction/message ids, with related "
                          "incidents, root causes and decisions; plus DIR/index.md.")
    docs.add_argument("directory", metavar="DIR", help="where to write the pages (created if missing)")
    docs.add_argument("--topic", default=None, metavar="T", help="only this topic (its slug, e.g. http-5xx)")
    docs.add_argument("--min-quality", type=float, default=None, metavar="Q",
                      help="judged quality an answer needs, 0..1 (default: learning.min_quality)")
    docs.add_argument("--json", action="store_true", help="print the pages written as JSON")
    add_common_options(docs)
    docs.set_defaults(handler=run_docs)
    status = sub.add_parser("status", help="mine now and show what would be kept, collapsed and excluded, and why")
    status.add_argument("--min-quality", type=float, default=None, metavar="Q",
                        help="judged quality an answer needs, 0..1 (default: learning.min_quality)")
    status.add_argument("--json", action="store_true", help="print the counts as JSON")
    add_common_options(status)
    status.set_defaults(handler=run_status)
    parser.set_defaults(handler=lambda args: _usage(parser))


async def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_USAGE


def parse_since(text: str | None) -> float | None:
    """`--since` as a UTC timestamp; a bad date is a usage error naming the option."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"learn: --since '{text}' is not a date; use YYYY-MM-DD or 2026-12-04T10:00", EXIT_USAGE)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def check_quality(value: float | None) -> None:
    """`--min-quality` must be in 0..1."""
    if value is not None and not 0.0 <= value <= 1.0:
        raise CliError(f"learn: --min-quality {value} is outside 0..1", EXIT_USAGE)


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A tqdm bar on stderr for big exports (a terminal only; silent for small ones and in pipes)."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if total < PROGRESS_FROM:
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="rec", file=sys.stderr, disable=None, leave=False)
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()


def _learning(engine: Any) -> Any:
    from hololoom_core.learning import TeamLearning

    if not engine.config.features.team_learning:
        raise CliError("learn: team learning is off (features.team_learning: false in the config)")
    learning = engine.find_capability(TeamLearning)
    if learning is None:
        raise CliError("learn: the team learning capability is not installed")
    return learning


async def run_export(args: argparse.Namespace) -> int:
    """Mine and write the dataset."""
    from hololoom_core.learning.files import ExportError

    check_quality(args.min_quality)
    since = parse_since(args.since)
    directory = Path(args.directory).expanduser()
    async with open_engine(args) as engine:
        learning = _learning(engine)
        try:
            with progress_bar() as progress:
                summary = learning.export(directory, min_quality=args.min_quality, since=since, since_text=args.since,
                                          fmt=args.fmt, progress=progress)
        except ExportError as exc:
            raise CliError(f"learn export: {exc}")
    if args.json:
        print_json(summary.as_dict())
        return 0
    counts = summary.counts
    print(f"Wrote {directory}: {summary.files.get('train.jsonl', 0)} training example(s), "
          f"{summary.files.get('preference.jsonl', 0)} preference pair(s), dataset card README.md.")
    print(f"Read {counts['records']} record(s): {counts['kept']} kept, {counts['duplicate']} near-duplicate(s) "
          f"collapsed, {counts['excluded']} excluded.")
    for reason, number in counts["excluded_by_reason"].items():
        print(f"  excluded, {reason}: {number}")
    redactions = ", ".join(f"{kind} {n}" for kind, n in summary.redactions.items()) or "none"
    print(f"Redactions on the way out: {redactions} (redaction_log.jsonl).")
    return 0


async def run_docs(args: argparse.Namespace) -> int:
    """Mine and write the topic pages."""
    from hololoom_core.learning.files import ExportError
    from hololoom_core.learning.service import LearningError

    check_quality(args.min_quality)
    directory = Path(args.directory).expanduser()
    async with open_engine(args) as engine:
        learning = _learning(engine)
        try:
            summary = learning.generate_docs(directory, topic=args.topic, min_quality=args.min_quality)
        except (ExportError, LearningError) as exc:
            raise CliError(f"learn docs: {exc}")
    if args.json:
        print_json(summary.as_dict())
        return 0
    print(f"Wrote {len(summary.pages)} topic page(s) and {summary.index}:")
    for slug, path in summary.pages.items():
        print(f"  {slug}: {path}")
    if not summary.pages:
        print("  (no kept examples yet: rate answers with `hololoom feedback ID up`)")
    return 0


async def run_status(args: argparse.Namespace) -> int:
    """Mine now and print the counts."""
    check_quality(args.min_quality)
    async with open_engine(args) as engine:
        learning = _learning(engine)
        report = learning.mine(min_quality=args.min_quality)
        counts = report.counts()
    if args.json:
        print_json(counts)
        return 0
    print(f"{counts['records']} record(s): {counts['kept']} kept, {counts['duplicate']} near-duplicate(s), "
          f"{counts['excluded']} excluded, {counts['preference_pairs']} preference pair(s).")
    for reason, number in counts["excluded_by_reason"].items():
        print(f"  excluded, {reason}: {number}")
    return 0
