"""Entry point of `hololoom-tui`: parse options, load config and scenario, run the app."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from hololoom_core import __version__
from hololoom_core.config import ConfigError, load_config

SCENARIO_HELP = "replay a scenario live at start: one of {names}, or a YAML file"


class _Parser(argparse.ArgumentParser):
    """The argument parser; the shipped scenario names are read only when help is printed."""

    def format_help(self) -> str:
        """The help text, with the shipped scenarios listed under --scenario."""
        from hololoom_core.transport.scenarios import shipped_scenarios

        for action in self._actions:
            if action.dest == "scenario":
                action.help = SCENARIO_HELP.format(names=", ".join(shipped_scenarios()))
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    """The `hololoom-tui` argument parser."""
    parser = _Parser(
        prog="hololoom-tui",
        description="HoloLoom ChatOps in the terminal: Chat plus five tabs of live engine state. "
        "With no configuration it runs offline: a simulated room, the offline answer engine and a local SQLite file.",
        epilog="Slow link? Set TEXTUAL_ANIMATIONS=none, TEXTUAL_FPS=15 or TEXTUAL_COLOR_SYSTEM=standard. "
        "In a browser: hololoom-tui serve [--port 8000] (127.0.0.1 only, no authentication; see --help there).",
    )
    parser.add_argument("--version", action="version", version=f"hololoom-tui {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: HOLOLOOM_CONFIG or none)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the SQLite file lives")
    parser.add_argument("--scenario", metavar="NAME|PATH", help=SCENARIO_HELP.format(names="the shipped ones"))
    return parser


def build_serve_parser() -> argparse.ArgumentParser:
    """The `hololoom-tui serve` argument parser."""
    parser = argparse.ArgumentParser(
        prog="hololoom-tui serve",
        description="Serve the app to a web browser (textual-serve). It has NO authentication: anyone who can reach "
        "the port gets the app. It binds to 127.0.0.1; reach it from elsewhere through an SSH tunnel "
        "(ssh -N -L 8000:127.0.0.1:8000 you@server, then open http://127.0.0.1:8000).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--public-url", metavar="URL", help="the URL browsers use, when it differs (e.g. behind a proxy)")
    parser.add_argument("--config", metavar="PATH", help="config file for the served app")
    parser.add_argument("--data-dir", metavar="DIR", help="where the served app's SQLite file lives")
    parser.add_argument("--scenario", metavar="NAME|PATH", help="scenario the served app replays at start")
    return parser


def served_command(args: argparse.Namespace) -> str:
    """The command textual-serve runs for each browser session: this app with the same options."""
    parts = [sys.executable, "-m", "hololoom_tui"]
    for option in ("config", "data_dir", "scenario"):
        value = getattr(args, option)
        if value:
            parts += [f"--{option.replace('_', '-')}", value]
    return shlex.join(parts)


def serve(argv: Sequence[str]) -> int:
    """Serve the app to browsers until interrupted; a bad config is refused before the server starts."""
    args = build_serve_parser().parse_args(argv)
    try:
        load_config(args.config, data_dir=args.data_dir)
    except ConfigError as exc:
        print(f"hololoom-tui: config error: {exc}", file=sys.stderr)
        return 2
    from textual_serve.server import Server

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"hololoom-tui: serving on {args.host}: textual-serve has no authentication, anyone who can reach "
              f"port {args.port} gets the app", file=sys.stderr)
    print(f"hololoom-tui: serving on http://{args.host}:{args.port} (no authentication; Ctrl+C stops)", file=sys.stderr)
    Server(served_command(args), host=args.host, port=args.port, title="HoloLoom ChatOps",
           public_url=args.public_url).serve()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; configuration, data dir, store and scenario problems print one line and exit 2."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        return serve(arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        config = load_config(args.config, data_dir=args.data_dir)
    except ConfigError as exc:
        print(f"hololoom-tui: config error: {exc}", file=sys.stderr)
        return 2
    from hololoom_core.cli.common import CliError, check_data_dir

    try:
        check_data_dir(config)
    except CliError as exc:
        print(f"hololoom-tui: {exc}", file=sys.stderr)
        return 2
    scenario = None
    if args.scenario:
        from hololoom_core.transport.scenarios import ScenarioError, load_scenario

        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            print(f"hololoom-tui: scenario error: {exc}", file=sys.stderr)
            return 2
    from hololoom_tui.app import make_app

    app = make_app(config, scenario=scenario)  # the engine is built in the app, after its first frame
    app.run()
    if app.startup_error:  # the database could not be opened where the config says: a setup problem
        print(f"hololoom-tui: {app.startup_error}", file=sys.stderr)
        return 2
    return int(app.return_code or 0)


if __name__ == "__main__":
    sys.exit(main())
