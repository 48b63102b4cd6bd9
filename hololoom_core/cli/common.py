"""What every CLI command shares: loading config and the engine, one-line errors, output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from hololoom_core.config import Config, ConfigError, load_config

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An error the CLI prints as one line before exiting with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_common_options(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """Add `--config` and `--data-dir` (at the top level with defaults, on subcommands without)."""
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument("--config", metavar="PATH", default=default, help="config file (default: HOLOLOOM_CONFIG, "
                        "then the user config dir; none means offline defaults)")
    parser.add_argument("--data-dir", metavar="DIR", default=default, help="where the SQLite file and state live "
                        "(default: HOLOLOOM_DATA_DIR, then the platform data dir)")


def positive_int(value: str) -> int:
    """An argparse type: a whole number >= 1 (anything else is a one-line usage error)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {number}")
    return number


def config_from_args(args: argparse.Namespace) -> Config:
    """Load the configuration named by the arguments; a bad file becomes `CliError` with exit status 2."""
    try:
        return load_config(getattr(args, "config", None), data_dir=getattr(args, "data_dir", None))
    except ConfigError as exc:
        raise CliError(f"config error: {exc}", EXIT_USAGE)


def check_data_dir(config: Config) -> None:
    """Refuse, with exit status 2, a data dir that is a file or cannot be written (one line naming it)."""
    directory = config.data_dir
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == directory else f"is inside {existing}, which is a file"
        raise CliError(f"data dir {directory} {where}, not a directory; pass --data-dir DIR or set "
                       "hololoom.data_dir", EXIT_USAGE)
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "data dir" if existing == directory else f"data dir {directory}: its parent"
        raise CliError(f"{what} {existing} is not writable; pass --data-dir DIR or set hololoom.data_dir",
                       EXIT_USAGE)
def check_readable_files(config: Config) -> None:
    """Refuse to start on an operator file that is not text (unreadable, binary, not UTF-8): one line, exit 2.

    The pattern file in the data dir is the one such file read at start outside the config itself (whose
    referenced files are checked while it loads). Its YAML and schema problems are reported by the
    pattern book, which then runs on the shipped patterns.
    """
    from hololoom_core.text.clean import UnreadableText, read_text_file

    patterns = (config.memory.patterns_file or (config.data_dir / "patterns.yaml")).expanduser()
    if not patterns.exists():
        return
    try:
        read_text_file(patterns)
    except UnreadableText as exc:
        raise CliError(f"patterns: {patterns}: {exc}; fix or remove the file", EXIT_USAGE)
    except OSError as exc:
        raise CliError(f"patterns: {patterns}: cannot read it ({exc.strerror or exc}); fix its permissions "
                       "or remove it", EXIT_USAGE)


@asynccontextmanager
async def open_engine(
    args: argparse.Namespace, *, long_running: bool = False, **engine_options: Any
) -> AsyncIterator[Any]:
    """Build and start an engine for one command (or a long-running one, like the bot), and close it afterwards."""
    from hololoom_core.engine import Engine
    from hololoom_core.store import StoreError

    config = config_from_args(args)
    check_data_dir(config)
    check_readable_files(config)
    try:
        engine = Engine(config, **engine_options)
    except StoreError as exc:  # the database cannot be opened where the config says: a setup problem
        raise CliError(f"store error: {exc}", EXIT_USAGE)
    try:
        await engine.start(long_running=long_running)
        yield engine
    finally:
        await engine.close()


def print_json(data: Any) -> None:
    """Print data as indented JSON on stdout, scanned for secrets once more on the way out."""
    from hololoom_core.redact import redact_data

    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(json.dumps(redact_data(json.loads(text)), indent=2, ensure_ascii=False) + "\n")


def write_private_file(path: str | Path, text: str) -> Path:
    """Write an export (Markdown, JSON) readable by its owner only (0600), secrets scanned once more.

    Raises `CliError` naming the file when it cannot be written.
    """
    from hololoom_core.redact import redact

    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(redact(text))
        os.chmod(target, 0o600)  # an existing file keeps its old mode through O_CREAT: set it
    except OSError as exc:
        raise CliError(f"cannot write {target} ({exc.strerror or exc})")
    return target
