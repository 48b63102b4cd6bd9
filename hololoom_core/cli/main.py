"""Entry point of `hololoom`: builds the parser from the command modules and runs one command."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from hololoom_core import __version__
from hololoom_core.cli.common import EXIT_USAGE, CliError, add_common_options

# Each module has `register(subparsers)`, which adds its subcommand(s) and sets `handler` on them.
COMMAND_MODULES: list[str] = [
    "hololoom_core.cli.ask",
    "hololoom_core.cli.say",
    "hololoom_core.cli.doctor",
    "hololoom_core.cli.runbooks",
    "hololoom_core.cli.experiments",
    "hololoom_core.cli.review",
    "hololoom_core.cli.workflow",
    "hololoom_core.cli.incident",
    "hololoom_core.cli.bot",
    "hololoom_core.cli.ingest",
    "hololoom_core.cli.memory",
    "hololoom_core.cli.market",
    "hololoom_core.cli.predict",
    "hololoom_core.cli.quality",
    "hololoom_core.cli.feedback",
    "hololoom_core.cli.learn",
    "hololoom_core.cli.route",
    "hololoom_core.cli.simulate",
    "hololoom_core.cli.tune",
]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line plus a hint, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full `hololoom` parser."""
    parser = _Parser(
        prog="hololoom",
        description="HoloLoom ChatOps, headless: ask questions, talk in the simulated room, check the setup.",
    )
    parser.add_argument("--version", action="version", version=f"hololoom {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    add_common_options(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def safe_arguments(argv: Sequence[str]) -> list[str]:
    """Command-line arguments at the boundary: bytes that were not UTF-8 become U+FFFD, secrets are redacted.

    An argument naming an existing file or directory is passed on as it is (it is a path, not text).
    """
    from hololoom_core.redact import redact
    from hololoom_core.text.clean import clean_argument

    safe = []
    for argument in argv:
        try:
            is_path = os.path.lexists(argument)
        except (OSError, ValueError):
            is_path = False
        safe.append(argument if is_path else redact(clean_argument(argument)))
    return safe


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser the arguments chose, so a usage error names `hololoom ask --help`, not the top."""
    current = parser
    while True:
        actions = [action for action in current._actions if isinstance(action, argparse._SubParsersAction)]
        if not actions:
            return current
        chosen = getattr(args, actions[0].dest, None)
        if chosen not in actions[0].choices:
            return current
        current = actions[0].choices[chosen]


def unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """The error for arguments nobody took, with the closest option as a suggestion."""
    options = [option for action in parser._actions for option in action.option_strings]
    close = difflib.get_close_matches(extras[0].split("=", 1)[0], options, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unrecognized arguments: {' '.join(extras)}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run `hololoom` with `argv`; returns the exit status."""
    parser = build_parser()
    args, extras = parser.parse_known_args(safe_arguments(sys.argv[1:] if argv is None else argv))
    if extras:
        command_parser(parser, args).error(unrecognized(command_parser(parser, args), extras))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(asyncio.run(handler(args)) or 0)
    except CliError as exc:
        print(f"hololoom: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("hololoom: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
