"""`hololoom bot`: run the engine as a Matrix bot, headless, until SIGTERM or SIGINT.

Logs go to stderr and to a rotating file under the data dir (`logs/bot.log`). Unfinished answers and
unsent replies are picked up again on the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from hololoom_core.cli.common import EXIT_USAGE, CliError, add_common_options, config_from_args, open_engine
from hololoom_core.config import Config

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def register(subparsers: Any) -> None:
    """Add the `bot` subcommand."""
    parser = subparsers.add_parser(
        "bot", help="run as a Matrix bot until stopped (SIGTERM/SIGINT)",
        description="Log in to the configured homeserver and answer in Matrix rooms through the same pipeline "
        "as the app. Logs go to stderr and to <data dir>/logs/bot.log (rotated).",
    )
    parser.add_argument("--log-file", metavar="PATH", default=None,
                        help="log file (default: <data dir>/logs/bot.log)")
    parser.add_argument("--login-attempts", type=int, default=None, metavar="N",
                        help="give up after N tries while the homeserver cannot be reached (default: keep trying)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level for stderr and the file (default: INFO)")
    add_common_options(parser)
    parser.set_defaults(handler=run)


def setup_logging(config: Config, log_file: str | None, level: str) -> Path:
    """Log to stderr and to a rotating file (5 MB × 3); returns the file's path."""
    path = Path(log_file) if log_file else config.data_dir / "logs" / "bot.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"bot: cannot write the log file {path} ({exc}); pass --log-file or --data-dir")
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(LOG_FORMAT)
    stderr_handler = logging.StreamHandler(sys.stderr)
    for handler in (stderr_handler, file_handler):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(getattr(logging, level))
    if level != "DEBUG":
        for noisy in ("nio", "aiohttp", "peewee"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, getattr(logging, level)))
    return path


async def run(args: argparse.Namespace) -> int:
    """Run the bot until a signal asks it to stop; a login problem is one line and exit status 1."""
    config = config_from_args(args)
    if not config.matrix.configured:
        raise CliError(
            "bot: Matrix is not configured; set matrix.homeserver, matrix.user_id and matrix.access_token or "
            "matrix.password in the config (or MATRIX_HOMESERVER, MATRIX_USER_ID, MATRIX_ACCESS_TOKEN); "
            "see docs/matrix.md",
            EXIT_USAGE,
        )
    log_path = setup_logging(config, args.log_file, args.log_level)
    log = logging.getLogger("hololoom.bot")
    from hololoom_core.transport.matrix.session import MatrixLoginError
    from hololoom_core.transport.matrix.transport import MatrixTransport

    async with open_engine(args, long_running=True) as engine:
        transport = MatrixTransport(engine)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stopper(transport, signum, log))
        log.info("starting as %s on %s (data %s, log %s)", config.matrix.user_id, config.matrix.homeserver,
                 config.data_dir, log_path)
        try:
            await transport.run(login_attempts=args.login_attempts)
        except MatrixLoginError as exc:
            raise CliError(f"bot: {exc}")
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        log.info("stopped cleanly")
    return 0


def _stopper(transport: Any, signum: int, log: logging.Logger) -> Any:
    def stop() -> None:
        log.info("%s received; stopping", signal.Signals(signum).name)
        transport.stop()

    return stop
