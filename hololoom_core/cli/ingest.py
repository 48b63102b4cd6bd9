"""`hololoom ingest FILE`: bulk-load chat history (JSON Lines or an Element export) into memory."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hololoom_core.cli.common import CliError, add_common_options, open_engine, print_json


def register(subparsers: Any) -> None:
    """Add the `ingest` subcommand."""
    parser = subparsers.add_parser(
        "ingest", help="load chat history into memory (JSON Lines or an Element room export)",
        description="Store, index, graph and analyse every message of FILE, as if it had been said live. "
        "JSON Lines: one object per line with room, sender, ts (epoch seconds/ms or ISO 8601), body and "
        "optional thread, event_id, sender_name, reply_to. Element: the JSON of 'Export chat'. Re-ingesting "
        "a file stores nothing twice. A bad record stops the ingest with one line naming it; the records "
        "before it stay stored.")
    parser.add_argument("file", type=Path, help="the .jsonl file or Element export .json")
    parser.add_argument("--skip-bad", action="store_true", help="report bad records and go on instead of stopping")
    parser.add_argument("--no-embed", action="store_true", help="do not compute embeddings now (they are computed "
                        "in the background when the engine next runs)")
    parser.add_argument("--batch", type=int, default=2000, metavar="N", help="messages per transaction "
                        "(default 2000)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_common_options(parser)
    parser.set_defaults(handler=run)


class ProgressBar:
    """Progress of every ingest stage (store, analyse, embed) on one line of stderr.

    On a terminal the line is redrawn in place; otherwise a plain line is written each time a stage
    passes another 10% (or 10,000 records when the total is unknown). Each stage's rate is its
    count over its own busy time, so interleaved stages show their own speed.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 20) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.started = time.perf_counter()
        self.stages: dict[str, tuple[int, int | None, float]] = {}
        self.steps: dict[str, int] = {}
        self.drawn = 0

    def __call__(self, stage: str, done: int, total: int | None, seconds: float | None = None) -> None:
        """Record a stage's progress (`seconds`: its busy time so far) and redraw."""
        busy = seconds if seconds is not None else time.perf_counter() - self.started
        self.stages[stage] = (done, total, busy)
        line = " | ".join(self._part(name, *figures) for name, figures in self.stages.items())
        if self.tty:
            self.stream.write("\r" + line.ljust(self.drawn))
            self.stream.flush()
            self.drawn = len(line)
            return
        step = int(min(1.0, done / total) * 10) if total else done // 10000
        if self.steps.get(stage) != step:
            self.steps[stage] = step
            self.stream.write(f"ingest: {line}\n")

    def _part(self, stage: str, done: int, total: int | None, busy: float) -> str:
        rate = done / max(1e-9, busy)
        if not total:
            return f"{stage} {done:,} ({rate:,.0f}/s)"
        share = min(1.0, done / total)
        if self.tty:
            filled = int(share * self.width)
            return f"{stage} [{'#' * filled}{'-' * (self.width - filled)}] {share:4.0%} {done:,}/{total:,} ({rate:,.0f}/s)"
        return f"{stage} {done:,}/{total:,} ({share:.0%}, {rate:,.0f}/s)"

    def finish(self) -> None:
        """End the bar's line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = 0


async def run(args: argparse.Namespace) -> int:
    """Ingest the file and print what was stored."""
    from hololoom_core.memory.ingest import IngestError, ingest_file

    if args.batch < 1:
        raise CliError("ingest: --batch must be at least 1", 2)
    path: Path = args.file
    if not path.is_file():
        raise CliError(f"ingest: {path}: no such file", 2)
    bar = ProgressBar()
    async with open_engine(args) as engine:
        try:
            report = await ingest_file(engine, path, batch_size=args.batch, skip_bad=args.skip_bad,
                                       embed=not args.no_embed, progress=bar)
        except IngestError as exc:
            bar.finish()
            raise CliError(f"ingest: {exc}")
        bar.finish()
    bad_skipped = len(report.errors) if args.skip_bad else 0  # with --skip-bad, a bad record is a skipped one
    if args.json:
        print_json({**report.as_dict(), "skipped": report.skipped + bad_skipped, "bad_skipped": bad_skipped,
                    "not_messages": report.skipped})
    else:
        rate = report.stored / report.seconds if report.seconds else 0.0
        skipped = f"{report.skipped + bad_skipped:,} skipped"
        if bad_skipped:
            skipped += f" ({bad_skipped:,} bad, {report.skipped:,} not messages)"
        print(f"ingested {path.name} ({report.format}): {report.stored:,} stored, {report.duplicates:,} already "
              f"there, {skipped}, {report.analysed:,} analysed, {report.insights:,} insights, "
              f"{report.embedded:,} embedded in {report.seconds:.1f} s ({rate:,.0f} messages/s; "
              f"store {report.store_seconds:.1f} s, analyse {report.analyse_seconds:.1f} s, "
              f"embed {report.embed_seconds:.1f} s)")
    if report.errors:
        if not args.skip_bad:
            print(f"hololoom: ingest: {report.errors[0]} — stopped there; the {report.stored:,} record(s) before it "
                  "are stored (fix it and run again: nothing is stored twice; or use --skip-bad)", file=sys.stderr)
            return 1
        for error in report.errors[:20]:
            print(f"hololoom: ingest: {error} (skipped)", file=sys.stderr)
        if len(report.errors) > 20:
            print(f"hololoom: ingest: ... and {len(report.errors) - 20} more bad records skipped", file=sys.stderr)
    return 0
