"""`hololoom market`: search, show, install, update, roll back, remove, list and rate packages; keygen and publish."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from hololoom_core.cli.common import EXIT_USAGE, CliError, add_common_options, config_from_args, print_json


def register(subparsers: Any) -> None:
    """Add the `market` subcommand and its actions."""
    parser = subparsers.add_parser("market", aliases=["marketplace"], help="find, install and share workflow "
                                   "packages", description="The workflow marketplace: signed registries, installs "
                                   "by version range, updates, rollback and ratings (docs/marketplace.md).")
    actions = parser.add_subparsers(dest="market_action", metavar="ACTION", parser_class=type(parser))

    def action(name: str, help_text: str, handler: Any) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        add_common_options(sub)
        sub.set_defaults(handler=handler)
        return sub

    search = action("search", "search the registries (best Wilson lower bound of ratings first)", run_search)
    search.add_argument("query", nargs="*", help="words that must all appear in name, summary, tags or category")
    search.add_argument("--category", help="only this category (e.g. incident, security)")
    search.add_argument("--min-rating", type=float, metavar="R", help="only packages rated at least R stars (mean)")
    search.add_argument("--json", action="store_true", help="print as JSON")
    show = action("show", "versions, changelog, what it can do, files and comments of a package", run_show)
    show.add_argument("name", help="package name")
    show.add_argument("--json", action="store_true", help="print as JSON")
    install = action("install", "install NAME or NAME@RANGE (e.g. incident-war-room@>=1.0,<2)", run_install)
    install.add_argument("request", metavar="NAME[@SPEC]", help="package and optional PEP 440 range")
    install.add_argument("--registry", help="take it from this registry only")
    install.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    install.add_argument("--auto-update", action="store_true", help="keep it at the newest version in its range")
    update = action("update", "update packages to the newest version inside their pinned range", run_update)
    update.add_argument("name", nargs="?", help="package to update")
    update.add_argument("--all", action="store_true", help="update every installed package")
    update.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rollback = action("rollback", "go back to the previously installed version (kept on disk)", run_rollback)
    rollback.add_argument("name", help="package name")
    remove = action("remove", "uninstall a package", run_remove)
    remove.add_argument("name", help="package name")
    listing = action("list", "installed packages: name, version, registry, signer", run_list)
    listing.add_argument("--json", action="store_true", help="print as JSON")
    rate = action("rate", "rate a package 1-5 stars with an optional comment", run_rate)
    rate.add_argument("name", help="package name")
    rate.add_argument("stars", type=int, help="1 to 5")
    rate.add_argument("comment", nargs="*", help="what worked or did not")
    rate.add_argument("--as", dest="user", default="operator", help="who rates (default operator)")
    keygen = action("keygen", "create an Ed25519 signing key file (readable by you only)", run_keygen)
    keygen.add_argument("file", type=Path, help="where to write the key (never overwritten)")
    keygen.add_argument("--id", dest="key_id", help="key id shown to installers (default: derived from the key)")
    publish = action("publish", "build DIR into a package, add it to a registry folder and sign the index",
                     run_publish)
    publish.add_argument("directory", type=Path, metavar="DIR", help="folder with hololoom-package.yaml")
    publish.add_argument("--registry", type=Path, required=True, metavar="PATH", help="registry folder")
    publish.add_argument("--key", type=Path, required=True, metavar="FILE", help="signing key file")
    publish.add_argument("--expires-days", type=float, default=30.0, help="index validity in days (default 30)")
    parser.set_defaults(handler=_usage(parser))


def _usage(parser: argparse.ArgumentParser) -> Any:
    async def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return EXIT_USAGE

    return show


def _marketplace(args: argparse.Namespace) -> Any:
    from hololoom_core.marketplace.service import Marketplace

    config = config_from_args(args)
    if not config.marketplace.enabled:
        raise CliError("market: the marketplace is switched off (marketplace.enabled: false)")
    return Marketplace(config)


def _guard(function: Any) -> Any:
    """Turn marketplace refusals into one-line CLI errors."""
    async def run(args: argparse.Namespace) -> int:
        from hololoom_core.marketplace.errors import MarketplaceError

        try:
            return int(await function(args) or 0)
        except MarketplaceError as exc:
            raise CliError(f"market: {exc}")

    run.__doc__ = function.__doc__
    return run


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CliError("market: confirmation needed; re-run with --yes after reading what the package can do",
                       EXIT_USAGE)
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _warn_problems(market: Any) -> None:
    for name, problem in market.problems.items():
        print(f"warning: registry {name} skipped: {problem}", file=sys.stderr)


@_guard
async def run_search(args: argparse.Namespace) -> int:
    """Search every registry."""
    from hololoom_core.marketplace.render import search_markdown

    market = _marketplace(args)
    query = " ".join(args.query)
    hits = market.search(query, category=args.category, min_rating=args.min_rating)
    _warn_problems(market)
    if args.json:
        print_json([hit.as_dict() for hit in hits])
    else:
        print(search_markdown(hits, query))
    return 0


@_guard
async def run_show(args: argparse.Namespace) -> int:
    """Show a package."""
    from hololoom_core.marketplace.render import details_markdown

    info = _marketplace(args).details(args.name.lower())
    if args.json:
        print_json(info)
    else:
        print(details_markdown(info))
    return 0


def _progress(text: str) -> None:
    print(f"… {text}", file=sys.stderr)


@_guard
async def run_install(args: argparse.Namespace) -> int:
    """Install after showing what the package can do."""
    market = _marketplace(args)
    started = time.perf_counter()
    plan = market.plan_install(args.request, registry=args.registry, auto_update=args.auto_update,
                               progress=_progress)
    print(plan.describe())
    if not plan.changes:
        return 0
    if not _confirm("Install?", args.yes):
        market.discard(plan)
        print("Cancelled; nothing was installed.")
        return 1
    done = market.commit(plan, user="cli")
    print(f"installed: {', '.join(done)} ({(time.perf_counter() - started) * 1000:.0f} ms)")
    return 0


@_guard
async def run_update(args: argparse.Namespace) -> int:
    """Update one or all packages within their ranges."""
    market = _marketplace(args)
    if not args.name and not args.all:
        raise CliError("market update: name a package or give --all", EXIT_USAGE)
    names = sorted(market.installed()) if args.all else [args.name.lower()]
    for name in names:
        plan = market.plan_update(name, progress=_progress)
        if plan is None or not plan.changes:
            print(f"{name}: up to date within its range")
            continue
        print(plan.describe())
        if _confirm("Update?", args.yes):
            print(f"updated: {', '.join(market.commit(plan, user='cli'))}")
        else:
            market.discard(plan)
    return 0


@_guard
async def run_rollback(args: argparse.Namespace) -> int:
    """Roll back to the previous version."""
    started = time.perf_counter()
    text = _marketplace(args).rollback(args.name.lower())
    print(f"{text} ({(time.perf_counter() - started) * 1000:.0f} ms)")
    return 0


@_guard
async def run_remove(args: argparse.Namespace) -> int:
    """Uninstall a package."""
    print(_marketplace(args).remove(args.name.lower()))
    return 0


@_guard
async def run_list(args: argparse.Namespace) -> int:
    """List installed packages."""
    from hololoom_core.marketplace.render import installed_markdown

    installed = _marketplace(args).installed()
    if args.json:
        print_json([{"name": name, "version": entry["version"], "registry": entry["registry"],
                     "signer": entry.get("signer"), "sha256": entry["sha256"], "spec": entry.get("spec", ""),
                     "auto_update": bool(entry.get("auto_update")),
                     "previous": [item["version"] for item in entry.get("history", [])]}
                    for name, entry in sorted(installed.items())])
    else:
        print(installed_markdown(installed))
    return 0


@_guard
async def run_rate(args: argparse.Namespace) -> int:
    """Rate a package."""
    print(_marketplace(args).rate(args.name.lower(), args.stars, " ".join(args.comment), user=args.user))
    return 0


@_guard
async def run_keygen(args: argparse.Namespace) -> int:
    """Create a signing key."""
    from hololoom_core.marketplace.signing import generate_key

    key = generate_key(args.file, args.key_id)
    print(f"key written to {args.file} (mode 0600); keep it private.")
    print("Installers trust it with:\nmarketplace:\n  trusted_keys:\n"
          f"    - id: {key.key_id}\n      public_key: {key.public_key_b64}")
    return 0


@_guard
async def run_publish(args: argparse.Namespace) -> int:
    """Publish a package folder into a registry folder."""
    from hololoom_core.marketplace.publish import publish
    from hololoom_core.marketplace.signing import load_key

    published = publish(args.directory, args.registry, load_key(args.key), expires_days=args.expires_days)
    state = "already published with the same content; index re-signed" if published.unchanged else "published"
    print(f"{published.name} {published.version} {state}: {published.file} sha256 {published.sha256} "
          f"(index version {published.index_version})")
    return 0
