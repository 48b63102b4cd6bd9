"""`hololoom review`: review a file, a diff or stdin with bandit, ruff and detect-secrets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hololoom_core.cli.common import EXIT_USAGE, CliError, add_common_options, config_from_args, print_json


def register(subparsers: Any) -> None:
    """Add the `review` subcommand."""
    parser = subparsers.add_parser(
        "review",
        help="review a file or diff (bandit, ruff, detect-secrets); exit 1 when something is found",
        description="Review a source file, a unified diff (only its added lines) or stdin ('-'). Python is "
        "analysed with bandit and ruff; every language is scanned for secrets, which are never printed in full. "
        "Exit status: 0 no findings, 1 findings, 2 usage or config error.",
    )
    parser.add_argument("file", help="the file to review, or - for stdin")
    parser.add_argument("--name", default=None, help="display name for stdin (its suffix picks the language, "
                        "e.g. --name change.diff)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_common_options(parser)
    parser.set_defaults(handler=run)


def _read(args: argparse.Namespace, max_bytes: int) -> tuple[str, str]:
    if args.file == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
        name = args.name or "stdin"
    else:
        path = Path(args.file).expanduser()
        try:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise CliError(f"review: {path}: no such file", EXIT_USAGE)
        except IsADirectoryError:
            raise CliError(f"review: {path} is a directory; give one file (or a diff of the change)", EXIT_USAGE)
        except OSError as exc:
            raise CliError(f"review: {path}: cannot read ({exc.strerror or exc})", EXIT_USAGE)
        name = args.name or str(args.file)
    if len(data) > max_bytes:
        raise CliError(f"review: {name} is larger than review.max_bytes ({max_bytes} bytes); review a diff instead",
                       EXIT_USAGE)
    if b"\0" in data[:8192]:
        raise CliError(f"review: {name} looks binary; give a text file", EXIT_USAGE)
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"review: {name} is not UTF-8 text (byte {exc.start}); convert it first", EXIT_USAGE)


async def run(args: argparse.Namespace) -> int:
    """Review the file and print the report."""
    from hololoom_core.llm.factory import build_provider
    from hololoom_core.llm.offline import OfflineAnswerEngine
    from hololoom_core.llm.runbooks import RunbookLibrary
    from hololoom_core.ops.review.inputs import guess_language
    from hololoom_core.ops.review.models import ReviewItem
    from hololoom_core.ops.review.report import render_markdown
    from hololoom_core.ops.review.service import CodeReviewer

    config = config_from_args(args)
    name, text = _read(args, config.review.max_bytes)
    if not text.strip():
        raise CliError(f"review: {name} is empty", EXIT_USAGE)
    provider = build_provider(config, OfflineAnswerEngine(RunbookLibrary.from_directory()))
    reviewer = CodeReviewer(config.review, provider)
    report = await reviewer.review([ReviewItem(name, text, guess_language(text, name))])
    if args.json:
        print_json(report.as_dict())
    else:
        print(render_markdown(report, max_findings=10_000))
    return 0 if report.clean else 1
