"""Plugs the marketplace into the engine: `!market`, live reload of installed workflows and aliases, auto-update.

`MarketplaceRuntime` wraps the `Marketplace` service for a running engine: every change reloads the
workflow library (installed workflows run at once) and the package aliases, and publishes
`MarketplaceChanged` on the bus. Install, update, remove and rollback need the `marketplace`
permission: admins, plus whoever `acl.permissions.marketplace` lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hololoom_core.engine.capabilities import Capability, CheckResult
from hololoom_core.engine.commands import CommandContext, CommandResult
from hololoom_core.engine.periodic import run_every
from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.events import MarketplaceChanged
from hololoom_core.marketplace.render import details_markdown, installed_markdown, search_markdown
from hololoom_core.marketplace.service import InstallPlan, Marketplace
from hololoom_core.ops.commands.aliases import AliasCommands, load_all_aliases
from hololoom_core.ops.workflows.commands import package_directories, reload_library

if TYPE_CHECKING:
    from hololoom_core.config import Config
    from hololoom_core.engine.pipeline import Engine

PERMISSION = "marketplace"
CHANGING_VERBS = ("install", "update", "rollback", "remove", "confirm")
VERBS = ("search", "show", "list", "rate", "cancel", *CHANGING_VERBS)
CONFIRM_WINDOW_S = 600.0


@dataclass(slots=True)
class PendingInstall:
    """Installs or updates shown to someone in chat, waiting for `!market confirm`."""

    plans: list[InstallPlan]
    action: str
    created: float


class MarketplaceRuntime:
    """The marketplace of a running engine: changes reload workflows and aliases and are announced."""

    def __init__(self, engine: Engine, marketplace: Marketplace | None = None) -> None:
        self.engine = engine
        self.marketplace = marketplace or Marketplace(engine.config)
        self.pending: dict[str, PendingInstall] = {}
        self.busy = asyncio.Lock()
        self.last_auto_update: float | None = None
        self._auto_task: asyncio.Task[None] | None = None

    def may_change(self, user: str) -> bool:
        """Admins always; others only when `acl.permissions.marketplace` names them (admins-only by default)."""
        access = self.engine.access
        if access.is_admin(user):
            return True
        return PERMISSION in self.engine.config.acl.permissions and access.has_permission(user, PERMISSION)

    def refresh(self) -> None:
        """Load the workflow library, the runbooks and the package aliases again after a change."""
        reload_library(self.engine)
        self.engine.reload_runbooks()
        aliases = self.engine.find_capability(AliasCommands)
        if aliases is not None:
            aliases.install(load_all_aliases(self.engine.config))

    def announce(self, action: str, package: str, version: str, detail: str = "") -> None:
        """Publish the change on the bus."""
        self.engine.bus.publish(MarketplaceChanged(action, package, version, detail))

    async def commit(self, plan: InstallPlan, action: str, user: str) -> str:
        """Move a confirmed plan into place, reload, announce; returns the reply."""
        async with self.busy:
            done = await asyncio.to_thread(self.marketplace.commit, plan, user=user)
        self.refresh()
        for item in done:
            name, _, version = item.partition(" ")
            self.announce(action, name, version, f"by {user}")
        return f"✅ {action.replace('_', '-')}: {', '.join(done)}" if done else "Nothing changed."

    async def rollback(self, name: str, user: str) -> str:
        """Roll a package back and reload."""
        async with self.busy:
            text = await asyncio.to_thread(self.marketplace.rollback, name)
        self.refresh()
        self.announce("rollback", name, self.marketplace.installed()[name]["version"], f"by {user}")
        return f"↩️ {text}"

    async def remove(self, name: str, user: str) -> str:
        """Uninstall a package and reload."""
        async with self.busy:
            text = await asyncio.to_thread(self.marketplace.remove, name)
        self.refresh()
        self.announce("remove", name, "", f"by {user}")
        return f"🗑 {text}"

    # -- auto-update ---------------------------------------------------------------------------

    async def auto_update(self) -> list[str]:
        """Update every `auto_update` package to the newest version in its range that validates and dry-runs."""
        self.last_auto_update = time.time()
        updated: list[str] = []
        await asyncio.to_thread(self.marketplace.indexes, refresh=True)
        for name, entry in sorted(self.marketplace.installed().items()):
            if not entry.get("auto_update"):
                continue
            try:
                plan: InstallPlan | None = await asyncio.to_thread(self.marketplace.plan_update, name)
            except MarketplaceError as exc:
                self.engine.report_error("marketplace", f"auto-update of {name} refused: {exc}")
                continue
            if plan is None or not plan.changes:
                continue
            old = entry["version"]
            await self.commit(plan, "auto_update", "auto-update")
            new = self.marketplace.installed()[name]["version"]
            text = (f"⬆️ Marketplace auto-update: **{name}** {old} → {new} (validated and dry-run first; "
                    f"`market rollback {name}` goes back).")
            room = self.engine.config.marketplace.announce_room or self.engine.config.workflows.default_room
            with contextlib.suppress(ValueError):
                self.engine.say(room, text)
            updated.append(f"{name} {new}")
        return updated

    def start_auto_update(self) -> None:
        """Run auto-update now and then every `marketplace.auto_update_hours` (long-running engines only)."""
        if self._auto_task is None:
            loop = run_every(self.engine, self.engine.config.marketplace.auto_update_hours * 3600, self.auto_update,
                             where="marketplace", what="auto-update", wait_first=False)
            self._auto_task = asyncio.get_running_loop().create_task(loop, name="hololoom-market-update")

    async def close(self) -> None:
        """Stop the auto-update loop."""
        if self._auto_task is not None:
            self._auto_task.cancel()
            await asyncio.gather(self._auto_task, return_exceptions=True)
            self._auto_task = None


async def check_marketplace(config: Config) -> CheckResult:
    """`hololoom doctor`: every registry's index verifies, and every installed package is on disk."""
    if not config.marketplace.enabled:
        return CheckResult("marketplace", "ok", "switched off (marketplace.enabled: false)")
    market = Marketplace(config)
    indexes = await asyncio.to_thread(market.indexes)
    missing = [name for name in market.installed() if market.storage.active_dir(name) is None]
    verified = sum(1 for index in indexes.values() if index.verified)
    detail = (f"{len(indexes)} registr{'y' if len(indexes) == 1 else 'ies'} ({verified} signed by a trusted key), "
              f"{len(market.installed())} package(s) installed")
    if market.problems or missing:
        problems = [f"{name}: {problem}" for name, problem in market.problems.items()]
        problems += [f"{name} is locked but not active; reinstall it" for name in missing]
        return CheckResult("marketplace", "warn", f"{detail}; {'; '.join(problems)}")
    return CheckResult("marketplace", "ok", detail)


class MarketplaceCapability(Capability):
    """The workflow marketplace: `!market`, package workflows and aliases, auto-update; provides the runtime."""

    name = "marketplace"
    after = ("workflows",)
    doctor_checks = (check_marketplace,)

    def install(self, engine: Engine) -> None:
        """Provide the runtime and register `!market` (when `marketplace.enabled`)."""
        if not engine.config.marketplace.enabled:
            return
        runtime = MarketplaceRuntime(engine)
        engine.provide(runtime)
        engine.provide(runtime.marketplace)
        engine.overview_panels["marketplace"] = lambda _engine: {
            "installed": len(runtime.marketplace.installed())}
        engine.startup_hooks.append(_aliases_hook(engine))
        engine.warmup_hooks.append(runtime.start_auto_update)
        engine.shutdown_hooks.append(runtime.close)
        _register_market_command(engine, runtime)


def _aliases_hook(engine: Engine) -> Any:
    async def load_package_aliases() -> None:
        aliases = engine.find_capability(AliasCommands)
        if aliases is not None and package_directories(engine.config):
            aliases.install(load_all_aliases(engine.config))

    return load_package_aliases


def _register_market_command(engine: Engine, runtime: MarketplaceRuntime) -> None:
    prefix = engine.config.bot.command_prefix

    @engine.commands.command(
        "market",
        help="Find, install, update, roll back and rate shared workflow packages.",
        usage="market search [QUERY] | show NAME | install NAME[@RANGE] | confirm | cancel | update [NAME|--all] | "
              "rollback NAME | remove NAME | list | rate NAME STARS [COMMENT]",
        aliases=("marketplace",),
        group="ops",
    )
    async def market(context: CommandContext) -> CommandResult | str:
        try:
            return await _market(context)
        except MarketplaceError as exc:
            return CommandResult(f"⛔ {exc}", ok=False)

    async def _market(context: CommandContext) -> CommandResult | str:
        argv = list(context.argv)
        verb = argv[0].lower() if argv else "list"
        rest = argv[1:]
        user = context.user
        if verb not in VERBS:
            return CommandResult(f"Unknown `{prefix}market {verb}`; use one of {', '.join(VERBS)}", ok=False)
        if verb in CHANGING_VERBS and not runtime.may_change(user):
            return CommandResult(f"`{prefix}market {verb}` needs the `marketplace` permission (admins by default; "
                                 "see acl.permissions.marketplace)", ok=False)
        market = runtime.marketplace
        if verb == "search":
            category, min_rating, words = _search_options(rest)
            hits = await asyncio.to_thread(market.search, " ".join(words), category=category, min_rating=min_rating)
            return search_markdown(hits, " ".join(words))
        if verb == "list":
            return installed_markdown(market.installed())
        if verb == "cancel":
            pending = runtime.pending.pop(user, None)
            if pending is None:
                return "Nothing is waiting for your confirmation."
            for plan in pending.plans:
                market.discard(plan)
            return "Cancelled; nothing was installed."
        if verb == "confirm":
            pending = runtime.pending.pop(user, None)
            if pending is None or time.time() - pending.created > CONFIRM_WINDOW_S:
                return CommandResult(f"Nothing to confirm (ask again with `{prefix}market install NAME`).", ok=False)
            return "\n".join([await runtime.commit(plan, pending.action, user) for plan in pending.plans])
        if not rest and verb != "update":
            return CommandResult(f"Name the package, for example `{prefix}market {verb} incident-war-room`", ok=False)
        if verb == "show":
            return details_markdown(await asyncio.to_thread(market.details, rest[0].lower()))
        if verb == "rate":
            if len(rest) < 2 or not rest[1].isdigit():
                return CommandResult(f"Usage: `{prefix}market rate NAME STARS [COMMENT]` (stars 1-5)", ok=False)
            return await asyncio.to_thread(market.rate, rest[0].lower(), int(rest[1]), " ".join(rest[2:]),
                                           user=user)
        if verb == "rollback":
            return await runtime.rollback(rest[0].lower(), user)
        if verb == "remove":
            return await runtime.remove(rest[0].lower(), user)
        if verb == "install":
            registry = _option(rest, "--registry")
            auto = "--auto-update" in rest
            request = next((word for word in rest if not word.startswith("--") and word != registry), None)
            if request is None:
                return CommandResult(f"Name the package, for example `{prefix}market install incident-war-room`",
                                     ok=False)
            plan = await asyncio.to_thread(market.plan_install, request, registry=registry, auto_update=auto)
            return _ask_confirmation(runtime, user, [plan], "install", prefix)
        names = [word.lower() for word in rest if not word.startswith("--")]
        if not names or "--all" in rest:
            names = sorted(market.installed())
        await asyncio.to_thread(market.indexes, refresh=True)
        lines: list[str] = []
        plans: list[InstallPlan] = []
        try:
            for name in names:
                update: InstallPlan | None = await asyncio.to_thread(market.plan_update, name)
                if update is None or not update.changes:
                    lines.append(f"{name}: up to date within its range")
                else:
                    plans.append(update)
        except MarketplaceError:
            for plan in plans:
                market.discard(plan)
            raise
        if plans:
            return "\n".join([*lines, _ask_confirmation(runtime, user, plans, "update", prefix)])
        return "\n".join(lines) or "No packages installed."

    return None


def _ask_confirmation(runtime: MarketplaceRuntime, user: str, plans: list[InstallPlan], action: str,
                      prefix: str) -> str:
    changing = [plan for plan in plans if plan.changes]
    if not changing:
        return "\n".join(plan.describe() for plan in plans)
    previous = runtime.pending.pop(user, None)
    if previous is not None:
        for plan in previous.plans:
            runtime.marketplace.discard(plan)
    runtime.pending[user] = PendingInstall(changing, action, time.time())
    described = "\n".join(plan.describe() for plan in changing)
    return (f"{described}\n\nReply `{prefix}market confirm` within 10 minutes to {action}, or "
            f"`{prefix}market cancel`.")


def _option(words: list[str], name: str) -> str | None:
    if name in words:
        position = words.index(name)
        if position + 1 < len(words):
            return words[position + 1]
        raise MarketplaceError(f"{name} needs a value")
    return None


def _search_options(words: list[str]) -> tuple[str | None, float | None, list[str]]:
    category = _option(words, "--category")
    rating = _option(words, "--min-rating")
    try:
        min_rating = float(rating) if rating is not None else None
    except ValueError:
        raise MarketplaceError(f"--min-rating must be a number from 1 to 5 (got {rating!r})") from None
    skip = {category, rating, "--category", "--min-rating"}
    return category, min_rating, [word for word in words if word not in skip]


__all__ = ["MarketplaceCapability", "MarketplaceRuntime"]
