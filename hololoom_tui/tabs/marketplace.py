"""The Marketplace tab: search the registries, read a package's details, install, update, roll back and rate.

Everything it shows comes from the engine's marketplace (`EngineView.marketplace()`); registry reads,
installs and rollbacks run in named workers, and every change asks for confirmation first, showing
what the package will be able to do. The tab refreshes when the bus says packages changed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Select, Static

from hololoom_tui.bridge import EngineMessage
from hololoom_tui.engine_view import EngineView
from hololoom_tui.screens.market_dialogs import ConfirmChange, RatePackage
from hololoom_tui.widgets.fitted_table import FittedTable

if TYPE_CHECKING:
    from hololoom_core.marketplace.capability import MarketplaceRuntime
    from hololoom_core.marketplace.service import SearchHit

RATING_CHOICES = [("any rating", 0.0), ("≥ 3★", 3.0), ("≥ 4★", 4.0), ("≥ 4.5★", 4.5)]
APP_USER = "operator (app)"


class MarketProgress(Message):
    """A step of a running marketplace job (posted from the job's thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class MarketplaceTab(Vertical):
    """Browse and manage workflow packages: search, filters, list, details, and the change keys."""

    BINDINGS = [
        Binding("i", "install", "Install", id="market.install"),
        Binding("u", "update", "Update", id="market.update"),
        Binding("b", "rollback", "Roll back", id="market.rollback"),
        Binding("s", "rate", "Rate", id="market.rate"),
        Binding("slash", "focus_search", "Search", id="market.search"),
    ]

    hits: reactive[list[SearchHit]] = reactive(list, always_update=True)
    selected: reactive[str | None] = reactive(None)

    def __init__(self, view: EngineView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.loaded = False
        self.settled = False  # True once the first search has been shown (snapshot tests wait for it)
        self.categories: list[str] = []

    def compose(self) -> ComposeResult:
        """Title, summary, filters, the package list and its details, and the progress line."""
        yield Static("[b]Marketplace[/b] [dim]— i install · u update · b roll back · s rate · / search · "
                     "✔ signed by a trusted key · ↑ update in range[/dim]",
                     classes="tab-title")
        yield Static("", id="mp-summary")
        with Horizontal(id="mp-filters"):
            yield Input(placeholder="search packages (name, summary, tags)", id="mp-search")
            yield Select([("all categories", "")], value="", allow_blank=False, id="mp-category")
            yield Select(RATING_CHOICES, value=0.0, allow_blank=False, id="mp-rating")
        with Horizontal(id="mp-main"):
            table: FittedTable = FittedTable(id="mp-list", cursor_type="row", zebra_stripes=True)
            for label, width in (("Package", 26), ("Latest", 8), ("Rating", 10), ("Teams", 5), ("Source", 11),
                                 ("Installed", 10)):
                table.add_column(label, width=width)
            yield table
            with VerticalScroll(id="mp-details-box"):
                yield Static("Select a package to see its versions, changelog and what it can do.",
                             id="mp-details", markup=False)
        yield Static("", id="mp-progress", markup=False)

    # -- loading -------------------------------------------------------------------------------

    def on_show(self) -> None:
        """Load the first time the tab is shown."""
        if not self.loaded:
            self.loaded = True
            self.search()

    @on(EngineMessage)
    def _engine_changed(self, message: EngineMessage) -> None:
        if self.loaded:
            self.search()

    @on(Input.Changed, "#mp-search")
    @on(Select.Changed)
    def _filters_changed(self) -> None:
        if self.loaded:
            self.search()

    def runtime(self) -> MarketplaceRuntime | None:
        """The engine's marketplace, or None (engine starting, or `marketplace.enabled: false`)."""
        return self.view.marketplace()

    @work(group="marketplace-search", exclusive=True, exit_on_error=False)
    async def search(self) -> None:
        """Search with the current filters and show the results."""
        runtime = self.runtime()
        if runtime is None:
            self.query_one("#mp-summary", Static).update(
                "The marketplace is not available (engine starting, or marketplace.enabled: false).")
            return
        query = self.query_one("#mp-search", Input).value
        category = self.query_one("#mp-category", Select).value
        rating = self.query_one("#mp-rating", Select).value
        market = runtime.marketplace
        hits = await asyncio.to_thread(market.search, query, category=str(category) if category else None,
                                       min_rating=float(rating) if rating else None)  # type: ignore[arg-type]
        self.hits = hits
        self._update_summary(runtime)
        self.settled = True

    def _update_summary(self, runtime: MarketplaceRuntime) -> None:
        market = runtime.marketplace
        total, from_packages = self.view.workflow_counts()
        overview = self.view.overview(recent=1)
        runbooks = overview.runbooks if overview is not None else 0
        package_runbooks = overview.runbooks_from_packages if overview is not None else 0
        registries = [f"{name} {'✔' if index.verified else '⚠ unverified'}" for name, index in
                      market.indexes().items()]
        registries += [f"{name} ✖ refused" for name in market.problems]
        self.query_one("#mp-summary", Static).update(
            f"Installed packages: {len(market.installed())}   Workflows: {total} ({from_packages} from packages)   "
            f"Runbooks: {runbooks} ({package_runbooks} from packages)   Registries: {', '.join(registries) or 'none'}")
        categories = sorted({hit.category for hit in self.hits} | set(self.categories))
        if categories != self.categories:
            self.categories = categories
            select = self.query_one("#mp-category", Select)
            current = select.value
            select.set_options([("all categories", ""), *[(name, name) for name in categories]])
            select.value = current if current in ("", *categories) else ""

    def watch_hits(self, hits: list[SearchHit]) -> None:
        if not self.is_mounted:
            return
        table: DataTable[str] = self.query_one("#mp-list", DataTable)
        keep = self.selected
        table.clear()
        for hit in hits:
            state = (hit.installed + (" ↑" if hit.update_available else "")) if hit.installed else "—"
            rating = f"{hit.rating.mean:.1f}★ n={hit.rating.count}" if hit.rating.mean is not None else "—"
            badge = "✔ " if hit.verified else "⚠ "
            table.add_row(hit.name, hit.latest, rating, str(hit.teams), badge + hit.registry, state, key=hit.name)
        if keep and keep in {hit.name for hit in hits}:
            table.move_cursor(row=[hit.name for hit in hits].index(keep))
        elif hits:
            self.selected = hits[0].name

    @on(DataTable.RowHighlighted, "#mp-list")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.selected = event.row_key.value if event.row_key is not None else None

    def watch_selected(self, name: str | None) -> None:
        if name is not None and self.is_mounted:
            self.show_details(name)

    @work(group="marketplace-details", exclusive=True, exit_on_error=False)
    async def show_details(self, name: str) -> None:
        """Versions, changelog, powers, files and comments of one package."""
        from hololoom_core.marketplace.errors import MarketplaceError
        from hololoom_core.marketplace.render import details_markdown

        runtime = self.runtime()
        if runtime is None:
            return
        try:
            info = await asyncio.to_thread(runtime.marketplace.details, name)
        except MarketplaceError as exc:
            self.query_one("#mp-details", Static).update(f"⛔ {exc}")
            return
        self.query_one("#mp-details", Static).update(details_markdown(info).replace("**", ""))

    # -- changes -------------------------------------------------------------------------------

    def on_market_progress(self, message: MarketProgress) -> None:
        """Show the running job's step."""
        self.query_one("#mp-progress", Static).update(message.text)

    def _progress(self, text: str) -> None:
        self.post_message(MarketProgress(f"… {text}"))

    def action_focus_search(self) -> None:
        """Put the cursor in the search box."""
        self.query_one("#mp-search", Input).focus()

    def action_install(self) -> None:
        """Install the selected package (its newest version) after confirmation."""
        if self.selected:
            self.change("install", self.selected)

    def action_update(self) -> None:
        """Update the selected package within its pinned range after confirmation."""
        if self.selected:
            self.change("update", self.selected)

    def action_rollback(self) -> None:
        """Roll the selected package back to its previous version after confirmation."""
        if self.selected:
            self.change("rollback", self.selected)

    def action_rate(self) -> None:
        """Rate the selected package."""
        if self.selected:
            self.rate(self.selected)

    @work(group="marketplace-change", exclusive=True, exit_on_error=False)
    async def change(self, action: str, name: str) -> None:
        """Plan (verify, validate, dry-run), confirm, then install, update or roll back."""
        from hololoom_core.marketplace.errors import MarketplaceError

        runtime = self.runtime()
        if runtime is None:
            return
        market = runtime.marketplace
        try:
            if action == "rollback":
                entry = market.installed().get(name)
                if entry is None or not entry.get("history"):
                    raise MarketplaceError(f"{name} has no previous version to roll back to")
                question = f"Roll {name} back from {entry['version']} to {entry['history'][-1]['version']}?"
                if await self.app.push_screen_wait(ConfirmChange("Roll back", question)):
                    self._progress(f"rolling back {name}")
                    self.query_one("#mp-progress", Static).update(await runtime.rollback(name, APP_USER))
                else:
                    self.query_one("#mp-progress", Static).update("Cancelled; nothing changed.")
                return
            self._progress(f"{action}: resolving {name}")
            if action == "install":
                plan = await asyncio.to_thread(market.plan_install, name, progress=self._progress)
            else:
                await asyncio.to_thread(market.indexes, refresh=True)
                update = await asyncio.to_thread(market.plan_update, name, progress=self._progress)
                if update is None:
                    self.query_one("#mp-progress", Static).update(f"{name} is up to date within its range.")
                    return
                plan = update
            if not plan.changes:
                self.query_one("#mp-progress", Static).update(plan.describe())
                return
            title = "Install" if action == "install" else "Update"
            if await self.app.push_screen_wait(ConfirmChange(f"{title} {name}?", plan.describe().replace("**", ""))):
                self._progress(f"{action}: moving {name} into place")
                self.query_one("#mp-progress", Static).update(await runtime.commit(plan, action, APP_USER))
            else:
                market.discard(plan)
                self.query_one("#mp-progress", Static).update("Cancelled; nothing was installed.")
        except MarketplaceError as exc:
            self.query_one("#mp-progress", Static).update(f"⛔ {exc}")
        self.search()

    @work(group="marketplace-change", exclusive=True, exit_on_error=False)
    async def rate(self, name: str) -> None:
        """Ask for stars and a comment, then record the rating."""
        from hololoom_core.marketplace.errors import MarketplaceError

        runtime = self.runtime()
        answer = await self.app.push_screen_wait(RatePackage(name))
        if runtime is None or answer is None:
            return
        stars, comment = answer
        try:
            text = await asyncio.to_thread(runtime.marketplace.rate, name, stars, comment, user=APP_USER)
        except MarketplaceError as exc:
            text = f"⛔ {exc}"
        self.query_one("#mp-progress", Static).update(text)
        self.search()
        self.show_details(name)
