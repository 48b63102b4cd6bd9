"""The HoloLoom app: the tabs of the registry, bound live to an in-process engine that runs in a named worker.

The app paints its first frame before the engine exists: `make_app` without an engine gives the app
a factory, and the `engine` worker builds the engine after the first frame, binds it and starts the
bridge. Tests and snapshots pass a ready engine, which is bound at mount.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.lazy import Lazy
from textual.markup import escape as escape_markup
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, TabbedContent, TabPane, Tabs
from textual.worker import Worker, WorkerState

from hololoom_core.config import Config
from hololoom_tui.bridge import (
    EngineBridge,
    EngineErrors,
    InsightsDetected,
    MemoryUpdated,
    StatsUpdated,
    StatusUpdated,
)
from hololoom_tui.engine_view import EngineView
from hololoom_tui.keys import OPTION_DIGIT_KEYS, enable_alt_digit_keys
from hololoom_tui.tabs.chat import ChatTab
from hololoom_tui.tabs.multi_agent import MultiAgentTab
from hololoom_tui.tabs.registry import TABS, TabContext, TabSpec
from hololoom_tui.widgets.chat_entries import RATING_MARKS, BotEntry
from hololoom_tui.widgets.fitted_table import FittedTable
from hololoom_tui.widgets.memory_panel import MemoryPanel
from hololoom_tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from hololoom_core.clock import Clock
    from hololoom_core.engine import Engine
    from hololoom_core.transport.local import LocalRoom
    from hololoom_core.transport.matrix.capability import MatrixBot
    from hololoom_core.transport.scenarios import Scenario

EngineFactory = Callable[[], "Engine"]


def display_path(path: Path) -> str:
    """A path with the home directory shown as `~`."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def tab_bindings(tabs: Iterable[TabSpec]) -> list[Binding]:
    """Two hidden bindings per registry tab: its alt key (id `tab.<id>`) and its digit (id `tab.<id>.digit`).

    The alt keys are priority bindings, so they work while the composer has the focus; the digits are
    ordinary ones, so they switch tabs only when no text input takes them (Escape leaves the composer).
    macOS terminals that type Option+digit as a character ("¡™£¢∞§") reach the same tabs.
    """
    bindings: list[Binding] = []
    for spec in tabs:
        action = f"show_tab('{spec.id}')"
        bindings.append(Binding(spec.key, action, spec.title, id=spec.binding_id, show=False, priority=True))
        if spec.digit:
            keys = ",".join([spec.digit, *([OPTION_DIGIT_KEYS[spec.digit]] if spec.digit in OPTION_DIGIT_KEYS else [])])
            bindings.append(Binding(keys, action, spec.title, id=f"{spec.binding_id}.digit", show=False))
    return bindings


class HoloLoomApp(App[None]):
    """The operator's terminal: the registry's tabs (Chat plus five of live engine state)."""

    CSS_PATH = "app.tcss"
    TITLE = "HoloLoom ChatOps"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("f2", "cycle_speaker", "Speaker", id="chat.speaker"),
        Binding("f3", "pick_scenario", "Scenario", id="chat.scenario"),
        Binding("f4", "toggle_to_bot", "Ask bot", id="chat.to_bot"),
        Binding("f5", "show_dashboard", "Dashboard", id="app.dashboard"),
        Binding("f6", "next_room", "Room", id="chat.next_room"),
        Binding("f7", "rate_answer(1)", "👍", id="chat.rate_up", priority=True),
        Binding("f8", "rate_answer(-1)", "👎", id="chat.rate_down", priority=True),
        *tab_bindings(TABS),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(
        self,
        config: Config,
        *,
        engine: Engine | None = None,
        engine_factory: EngineFactory | None = None,
        scenario: Scenario | None = None,
        watch_css: bool = False,
    ) -> None:
        enable_alt_digit_keys()
        super().__init__(watch_css=watch_css)
        if engine is None and engine_factory is None:
            raise ValueError("HoloLoomApp needs an engine or an engine factory")
        self.config = config
        self._engine = engine
        self.engine_factory = engine_factory
        self.view = EngineView()
        self.initial_scenario = scenario
        self.rooms: dict[str, LocalRoom] = {}
        self.bridge = EngineBridge()
        self.engine_restarts = 0
        self.matrix_restarts = 0
        self.startup_error: str | None = None
        self.tab_widgets: dict[str, Widget] = {}

    @property
    def engine(self) -> Engine:
        """The engine (raises until it is built: everything that needs it runs after `engine_bound`)."""
        if self._engine is None:
            raise RuntimeError("the engine is not built yet")
        return self._engine

    @property
    def engine_bound(self) -> bool:
        """True once the engine is built and bound to the tabs."""
        return self.view.ready

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status bar, one pane per registry tab, the footer."""
        yield StatusBar(id="status-bar")
        context = TabContext(view=self.view, bot_name=self.config.bot.name)
        with TabbedContent(initial=TABS[0].id, id="tabs"):
            for index, spec in enumerate(TABS):
                with TabPane(spec.title, id=spec.id):
                    widget = spec.factory(context)
                    widget.id = spec.widget_id
                    self.tab_widgets[spec.id] = widget
                    yield widget if index == 0 else Lazy(widget)  # hidden tabs mount after the first frame
        yield Footer()

    def tab_widget(self, tab_id: str) -> Widget:
        """The widget of a registry tab (built at compose; hidden tabs are mounted just after the first frame)."""
        return self.tab_widgets[tab_id]

    @property
    def chat(self) -> ChatTab:
        """The Chat tab."""
        return self.query_one(ChatTab)

    @property
    def status_bar(self) -> StatusBar:
        """The status bar."""
        return self.query_one(StatusBar)

    def room(self, room_id: str) -> LocalRoom:
        """The simulated room with this id (created on first use)."""
        from hololoom_core.transport.local import LocalRoom

        if room_id not in self.rooms:
            self.rooms[room_id] = LocalRoom(self.engine, room_id=room_id)
        return self.rooms[room_id]

    def on_mount(self) -> None:
        """Route bridge messages to the widgets that show them; bind a given engine now, else build one."""
        bar = self.status_bar
        bar.mode = self.config.mode
        bar.data_path = display_path(self.config.database_path)
        self.bridge.listen(bar, StatsUpdated, StatusUpdated)
        self.bridge.listen(self.query_one(MemoryPanel), InsightsDetected, MemoryUpdated)
        self.bridge.listen(self, EngineErrors)
        for spec in TABS:
            self.bridge.listen(self.tab_widget(spec.id), *spec.refresh_on)
        if self._engine is not None:
            self.bind_engine(self._engine)
        else:
            bar.activity = "starting the engine…"
            self.call_after_refresh(self.start_engine)

    def bind_engine(self, engine: Engine) -> None:
        """Show the engine's state, start its worker (and Matrix when configured) and any start-up scenario."""
        self._engine = engine
        self.view.bind(engine)
        bar = self.status_bar
        bar.activity = ""
        bar.provider = engine.provider.name
        bar.stats = engine.stats.as_dict()
        self._show_room(self.chat.room_id)
        self.start_engine()
        if self.config.matrix.configured:
            bar.matrix = {"state": "connecting"}
            self.start_matrix()
        if self.initial_scenario is not None:
            self.run_scenario(self.initial_scenario)

    # -- the engine worker -----------------------------------------------------------------------

    @work(group="engine", exit_on_error=False, name="engine")
    async def start_engine(self) -> None:
        """Build the engine if there is none yet, start it and pump its events to the UI until the app exits."""
        if self._engine is None:
            from hololoom_core.store import StoreError

            assert self.engine_factory is not None  # the constructor refuses neither an engine nor a factory
            await asyncio.sleep(0)  # let the first frame reach the terminal
            try:
                engine = self.engine_factory()
            except StoreError as exc:
                self.startup_error = f"store error: {exc}"
                self.exit(return_code=1)
                return
            self.bind_engine(engine)  # starts this worker again, now with an engine
            return
        await self.engine.start(long_running=True)
        self.bridge.connect(self.engine.bus)
        await self.bridge.run()

    def matrix_bot(self) -> MatrixBot | None:
        """The running Matrix bot, if the engine has one (its module loads with the engine, not at app import)."""
        from hololoom_core.transport.matrix.capability import MatrixBot

        return self.engine.find_capability(MatrixBot)

    @work(group="matrix", exit_on_error=False, name="matrix")
    async def start_matrix(self) -> None:
        """Run the Matrix bot on the app's loop until the app exits (errors restart it with backoff)."""
        from hololoom_core.transport.matrix.transport import MatrixTransport

        transport = self.matrix_bot() or MatrixTransport(self.engine)
        await transport.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Tell the operator when a worker fails; restart the engine worker with backoff."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        error = worker.error
        self.notify(f"{worker.name or worker.group} failed: {error}", title="HoloLoom", severity="error", timeout=8, markup=False)
        if worker.group == "engine":
            self.engine_restarts += 1
            delay = min(30.0, 0.5 * 2 ** min(self.engine_restarts, 6))
            self.set_timer(delay, self.start_engine)
        elif worker.group == "matrix":
            self.matrix_restarts += 1
            self.set_timer(min(60.0, 2.0 * 2 ** min(self.matrix_restarts, 5)), self.start_matrix)

    # -- engine messages the app itself handles ------------------------------------------------------

    @on(EngineErrors)
    def _engine_errors(self, message: EngineErrors) -> None:
        for event in message.events:
            self.notify(f"{event.where}: {event.error}", title="Engine", severity="warning", timeout=6, markup=False)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        active = self.query_one(TabbedContent).active
        if active == "chat":
            self.chat.focus_composer()
        elif not isinstance(self.focused, Tabs):  # someone walking the tab strip keeps it
            self.focus_tab(active)

    def focus_tab(self, tab_id: str) -> None:
        """Focus a tab's first table with a cursor, else the tab itself, so its keys work at once."""
        widget = self.tab_widget(tab_id)
        tables = [table for table in widget.query(FittedTable) if table.cursor_type != "none"]
        target = tables[0] if tables else widget
        if target.focusable:
            target.focus()
        else:
            self.set_focus(None)

    # -- chat ------------------------------------------------------------------------------------

    def _show_room(self, room_id: str) -> None:
        self.chat.show_room(room_id)
        self._sync_speaker()

    def _sync_speaker(self) -> None:
        room = self.room(self.chat.room_id)
        user = room.user(self.chat.speaker)
        self.chat.speaker_name = user.display_name

    @on(ChatTab.RoomChosen)
    def _room_chosen(self, event: ChatTab.RoomChosen) -> None:
        self._show_room(event.room_id)

    def room_choices(self) -> list[tuple[str, str]]:
        """Every room the Chat tab can show: (room id, name), the simulated ones and Matrix ones."""
        from hololoom_core.transport.local import DEFAULT_ROOM

        rooms = self.view.rooms()
        choices = [(room["room_id"], str(room.get("name") or room["room_id"])) for room in rooms]
        for always in (self.chat.room_id, DEFAULT_ROOM):
            if always not in [room_id for room_id, _ in choices]:
                choices.insert(0, (always, always))
        return choices

    def action_next_room(self) -> None:
        """Show the next room in the room list."""
        self.query_one(TabbedContent).active = "chat"
        room_ids = [room_id for room_id, _ in self.room_choices()]
        current = room_ids.index(self.chat.room_id) if self.chat.room_id in room_ids else -1
        self._show_room(room_ids[(current + 1) % len(room_ids)])

    @on(MultiAgentTab.Correct)
    def _correct_routing(self, event: MultiAgentTab.Correct) -> None:
        from hololoom_core.agents.service import MultiAgentService  # with the engine, after the first frame

        service = self.engine.find_capability(MultiAgentService)
        if service is None:
            self.notify("Multi-agent routing is off.", severity="warning")
            return
        try:
            correction = service.correct(event.interaction_id, event.agent, "operator", "app")
        except (LookupError, ValueError) as exc:
            self.notify(str(exc), title="Routing", severity="warning", timeout=6)
            return
        verb = "Confirmed" if correction.confirms else f"Corrected from {correction.routed}"
        self.notify(f"{verb}: answer #{event.interaction_id} → {event.agent}; the router refits in the background.",
                    title="Routing")

    @on(MultiAgentTab.Collaborate)
    def _collaborate(self, event: MultiAgentTab.Collaborate) -> None:
        self.query_one(TabbedContent).active = "chat"
        self.send_chat(self.chat.room_id, "operator", f"!collab {event.question}", False)

    @on(ChatTab.Send)
    def _send(self, event: ChatTab.Send) -> None:
        matrix = self.matrix_bot()
        if matrix is not None and matrix.state.room(event.room_id) is not None:
            self.send_matrix(event.room_id, event.text)
            return
        self.send_chat(event.room_id, event.speaker, event.text, event.to_bot)

    @work(group="send", exit_on_error=False, name="send-matrix")
    async def send_matrix(self, room_id: str, text: str) -> None:
        """Say something in a Matrix room as the bot; it is stored, then sent by the transport's outbox."""
        try:
            matrix = self.matrix_bot()
            if matrix is None:
                raise ValueError("the Matrix bot is not running")
            await matrix.send_as_bot(room_id, text)
        except ValueError as exc:
            self.notify(str(exc), title="Matrix", severity="warning", timeout=6, markup=False)

    @work(group="send", exit_on_error=False, name="send")
    async def send_chat(self, room_id: str, speaker: str, text: str, to_bot: bool) -> None:
        """Post a message into the simulated room; the replies arrive through the bridge."""
        self.status_bar.activity = "answering…" if to_bot or "@" in text else ""
        try:
            await self.room(room_id).post(speaker, text, to_bot=to_bot)
        finally:
            self.status_bar.activity = ""

    # -- feedback --------------------------------------------------------------------------------

    @on(BotEntry.Rated)
    def _rated(self, event: BotEntry.Rated) -> None:
        event.stop()
        self.rate(event.entry, event.value)

    def action_rate_answer(self, value: int) -> None:
        """Rate the selected answer (the focused one, else the newest in the room) 👍 (+1) or 👎 (-1)."""
        entry = self.chat.selected_answer() if self.engine_bound else None
        if entry is None:
            self.notify("No answer to rate in this room yet.", title="Feedback", severity="warning", timeout=4)
            return
        self.rate(entry, value)

    def rate(self, entry: BotEntry, value: int) -> None:
        """Send the operator's rating of an answer to the engine as feedback (source "app") and show it."""
        interaction_id = entry.interaction_id
        if interaction_id is None:
            return
        user = self.chat.speaker
        engine = self.engine
        if not engine.record_feedback(interaction_id, user, value, "app", ref="app"):
            if entry.rating == value:
                self.notify(f"Already rated {RATING_MARKS[value]}.", title="Feedback", timeout=3)
                return
            engine.interactions.remove_feedback(interaction_id, user, "app", "app")  # a changed mind
            engine.record_feedback(interaction_id, user, value, "app", ref="app")
        entry.rating = value
        self.notify(f"Rated answer {RATING_MARKS[value]} (interaction {interaction_id}).", title="Feedback", timeout=3)

    # -- screenshots -------------------------------------------------------------------------------

    def screenshot_dir(self) -> Path:
        """Where screenshots go: the configured directory, else ~/Downloads if it exists, else <data dir>/screenshots."""
        configured = self.config.hololoom.screenshot_dir
        if configured is not None:
            directory = Path(configured).expanduser()
        else:
            from platformdirs import user_downloads_path

            downloads = user_downloads_path()
            directory = downloads if downloads.is_dir() else self.config.data_dir / "screenshots"
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Save an SVG screenshot (palette → Screenshot) where it can be written, and say where."""
        try:
            directory = Path(path) if path else self.screenshot_dir()
            key = super().deliver_screenshot(filename, str(directory), time_format)
        except OSError as exc:
            self.notify(f"Cannot save the screenshot: {exc}", title="Screenshot", severity="error", timeout=8, markup=False)
            return None
        return key  # Textual says where it was saved (or why not) when the delivery completes

    # -- scenarios -------------------------------------------------------------------------------

    def run_scenario(self, scenario: Scenario) -> None:
        """Switch to the scenario's room and replay it live."""
        from hololoom_core.transport.local import SimulatedUser

        room = self.room(scenario.room)
        for speaker in scenario.speakers:
            if speaker.id not in [user.id for user in room.users]:
                room.users.append(SimulatedUser(speaker.id, speaker.display_name, speaker.role))
        self.query_one(TabbedContent).active = "chat"
        self._show_room(scenario.room)
        self.replay(scenario)

    @work(group="scenario", exclusive=True, exit_on_error=False, name="scenario")
    async def replay(self, scenario: Scenario) -> None:
        """Replay the scenario, showing progress in the status bar."""
        from hololoom_core.transport.scenarios import play_scenario

        bar = self.status_bar

        def progress(index: int, total: int, *_: Any) -> None:
            bar.activity = f"scenario {scenario.name} {index}/{total}"

        try:
            await play_scenario(scenario, self.room(scenario.room), on_progress=progress)
            self.notify(f"Scenario {scenario.name} finished ({len(scenario.messages)} messages).", timeout=5, markup=False)
        except asyncio.CancelledError:
            raise
        finally:
            bar.activity = ""

    def start_scenario_by_name(self, name: str) -> None:
        """Load and replay a scenario; a bad one is reported, not raised."""
        from hololoom_core.transport.scenarios import ScenarioError, load_scenario

        try:
            scenario = load_scenario(name)
        except ScenarioError as exc:
            self.notify(str(exc), title="Scenario", severity="error", timeout=8, markup=False)
            return
        self.run_scenario(scenario)

    # -- actions ---------------------------------------------------------------------------------

    def action_show_tab(self, tab_id: str) -> None:
        """Switch to a tab."""
        self.query_one(TabbedContent).active = tab_id

    def action_cycle_speaker(self) -> None:
        """Type as the next simulated user."""
        room = self.room(self.chat.room_id)
        ids = [user.id for user in room.users]
        current = ids.index(self.chat.speaker) if self.chat.speaker in ids else -1
        self.set_speaker(ids[(current + 1) % len(ids)])

    def set_speaker(self, user_id: str) -> None:
        """Type as this simulated user."""
        self.chat.speaker = user_id
        self._sync_speaker()

    def action_toggle_to_bot(self) -> None:
        """Address every message to the bot, or to the room."""
        self.chat.to_bot = not self.chat.to_bot

    def action_pick_scenario(self) -> None:
        """Choose a scenario to replay."""
        from hololoom_core.transport.scenarios import shipped_scenarios
        from hololoom_tui.screens.scenario_picker import ScenarioPicker

        def chosen(name: str | None) -> None:
            if name:
                self.start_scenario_by_name(name)

        self.push_screen(ScenarioPicker(shipped_scenarios()), chosen)

    def action_show_dashboard(self) -> None:
        """Open the dashboard (host and bot figures, open incidents, approvals)."""
        from hololoom_tui.screens.dashboard import DashboardScreen

        self.push_screen(DashboardScreen(self.view, self.bridge))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Command-palette entries: tabs, speakers, scenarios, plus Textual's own."""
        from hololoom_core.transport.scenarios import shipped_scenarios

        yield from super().get_system_commands(screen)
        for spec in TABS:
            yield SystemCommand(f"Show {spec.title}", f"Switch to the {spec.title} tab ({spec.key_help})",
                                lambda t=spec.id: self.action_show_tab(t))
        if not self.engine_bound:
            return
        for user in self.room(self.chat.room_id).users:
            yield SystemCommand(
                f"Speak as {escape_markup(user.display_name)}", f"Type in Chat as {escape_markup(user.id)}",
                lambda u=user.id: self.set_speaker(u),
            )
        for name, title in shipped_scenarios().items():
            yield SystemCommand(f"Start scenario: {escape_markup(name)}", escape_markup(title),
                                lambda n=name: self.start_scenario_by_name(n))
        for room_id, name in self.room_choices():
            yield SystemCommand(f"Open room: {escape_markup(name)}", f"Show {escape_markup(room_id)} in Chat",
                                lambda r=room_id: self._show_room(r))
        yield SystemCommand("Rate answer 👍", "Good answer: the selected one, else the newest (F7)",
                            lambda: self.action_rate_answer(1))
        yield SystemCommand("Rate answer 👎", "Bad answer: the selected one, else the newest (F8)",
                            lambda: self.action_rate_answer(-1))
        yield SystemCommand("Toggle ask-the-bot", "Address every Chat message to the bot", self.action_toggle_to_bot)
        yield SystemCommand("Show dashboard", "Host and bot figures, open incidents, approvals (F5)",
                            self.action_show_dashboard)
        tabs = self.query(MultiAgentTab)
        if not tabs:
            return
        multi_agent = tabs.first()
        yield SystemCommand("Correct the selected routing", "Multi-Agent tab: pick the agent that should have "
                            "answered the routing selected in the log (c)", self._palette_correct(multi_agent))
        yield SystemCommand("Ask the agents to collaborate", "Multi-Agent tab: answer the selected question with "
                            "several agents (k)", self._palette_collaborate(multi_agent))

    def _palette_correct(self, tab: MultiAgentTab) -> Callable[[], None]:
        def correct() -> None:
            self.action_show_tab("multi-agent")
            tab.action_correct_routing()
        return correct

    def _palette_collaborate(self, tab: MultiAgentTab) -> Callable[[], None]:
        def collaborate() -> None:
            tab.action_collaborate()
        return collaborate

    async def on_unmount(self) -> None:
        """Stop the Matrix bot (unfinished work resumes next start), stop the bridge and close the engine."""
        self.bridge.close()
        if self._engine is None:
            return
        matrix = self.matrix_bot()
        if matrix is not None:
            matrix.stop()
            for worker in [w for w in self.workers if w.group == "matrix"]:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(worker.wait(), 10)
        await self.engine.close()


def make_app(
    config: Config,
    *,
    engine: Engine | None = None,
    scenario: Scenario | None = None,
    clock: Clock | None = None,
) -> HoloLoomApp:
    """Build the app for the CLI and for tests.

    With an engine (tests, snapshots) the app binds it at mount; without one, the app builds a real engine
    on the configured data dir in its engine worker, after the first frame.
    """
    if engine is not None:
        return HoloLoomApp(config, engine=engine, scenario=scenario)

    def build_engine() -> Engine:
        from hololoom_core.engine import Engine

        return Engine(config, clock=clock)

    return HoloLoomApp(config, engine_factory=build_engine, scenario=scenario)
