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
    """A progress bar on stderr: redrawn in place on a terminal, a plain line every 10% otherwise."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.started = time.perf_counter()
        self.last_step: tuple[str, int] = ("", -1)
        self.drawn = False

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        """Show progress of a stage (`store` or `embed`)."""
        rate = done / max(1e-9, time.perf_counter() - self.started)
        if total:
            share = min(1.0, done / total)
            if self.tty:
                filled = int(share * self.width)
                bar = "#" * filled + "-" * (self.width - filled)
                self.stream.write(f"\r{stage:5} [{bar}] {share:4.0%} {done:,}/{total:,} ({rate:,.0f}/s)")
                self.stream.flush()
                self.drawn = True
                return
            step = int(share * 10)
            if (stage, step) != self.last_step:
                self.last_step = (stage, step)
                self.stream.write(f"ingest: {stage} {done:,}/{total:,} ({share:.0%}, {rate:,.0f}/s)\n")
        elif not self.tty and done // 10000 != self.last_step[1]:
            self.last_step = (stage, done // 10000)
            self.stream.write(f"ingest: {stage} {done:,} ({rate:,.0f}/s)\n")
        elif self.tty:
            self.stream.write(f"\r{stage:5} {done:,} ({rate:,.0f}/s)")
            self.drawn = True

    def finish(self) -> None:
        """End the bar's line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def stage(self, name: str) -> None:
        """Start timing a new stage."""
        self.finish()
        self.started = time.perf_counter()


async def run(args: argparse.Namespace) -> int:
    """Ingest the file and print what was stored."""
    from hololoom_core.memory.ingest import IngestError, ingest_file

    if args.batch < 1:
        raise CliError("ingest: --batch must be at least 1", 2)
    path: Path = args.file
    if not path.is_file():
        raise CliError(f"ingest: {path}: no such file", 2)
    bar = ProgressBar()
    current = {"stage": "store"}

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage != current["stage"]:
            current["stage"] = stage
            bar.stage(stage)
        bar(stage, done, total)

    async with open_engine(args) as engine:
        try:
            report = await ingest_file(engine, path, batch_size=args.batch, skip_bad=args.skip_bad,
                                       embed=not args.no_embed, progress=progress)
        except IngestError as exc:
            bar.finish()
            raise CliError(f"ingest: {exc}")
        bar.finish()
    if args.json:
        print_json(report.as_dict())
    else:
        rate = report.stored / report.seconds if report.seconds else 0.0
        print(f"ingested {path.name} ({report.format}): {report.stored:,} stored, {report.duplicates:,} already "
              f"there, {report.skipped:,} skipped, {report.insights:,} insights, {report.embedded:,} embedded "
              f"in {report.seconds:.1f} s ({rate:,.0f} messages/s)")
    if report.errors:
        if not args.skip_bad:
            print(f"hololoom: ingest: {report.errors[0]} — stopped there; the {report.stored:,} record(s) before it "
                  "are stored (fix it and run again: nothing is stored twice; or use --skip-bad)", file=sys.stderr)
            return 1
        for error in report.errors[:20]:
            print(f"hololoom: ingest: {error} (skipped)", file=sys.stderr)
        if len(report.errors) > 20:
            print(f"hololoom: ingest: ... and {len(report.errors) - 20} more bad records skipped", file=sys.stderr)
        return 1
    return 0
