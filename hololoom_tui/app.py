"""The HoloLoom app: six tabs bound live to an in-process engine, which runs in a named worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from hololoom_core.clock import Clock
from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.engine.overview import build_overview
from hololoom_core.events import (
    AnswerDelta,
    AnswerReady,
    EngineError,
    ExperimentChanged,
    FeedbackRecorded,
    InsightDetected,
    MessageStored,
    StatsChanged,
    StatusChanged,
)
from hololoom_core.memory.events import MemoryChanged
from hololoom_core.transport.local import DEFAULT_ROOM, LocalRoom, SimulatedUser
from hololoom_core.transport.matrix.capability import MatrixBot
from hololoom_core.transport.scenarios import (
    Scenario,
    ScenarioError,
    load_scenario,
    play_scenario,
    shipped_scenarios,
)
from hololoom_tui.bridge import EngineBridge, EngineUpdate
from hololoom_tui.screens.dashboard import DashboardScreen
from hololoom_tui.screens.scenario_picker import ScenarioPicker
from hololoom_tui.tabs.base import OverviewTab
from hololoom_tui.tabs.chat import ChatTab
from hololoom_tui.tabs.marketplace import MarketplaceTab
from hololoom_tui.tabs.multi_agent import MultiAgentTab
from hololoom_tui.tabs.predictive_quality import PredictiveQualityTab
from hololoom_tui.tabs.self_improving import SelfImprovingTab
from hololoom_tui.tabs.team_learning import TeamLearningTab
from hololoom_tui.widgets.memory_panel import MemoryPanel
from hololoom_tui.widgets.status_bar import StatusBar

TABS: list[tuple[str, str]] = [
    ("chat", "Chat"),
    ("self-improving", "Self-Improving"),
    ("team-learning", "Team Learning"),
    ("marketplace", "Marketplace"),
    ("predictive-quality", "Predictive Quality"),
    ("multi-agent", "Multi-Agent"),
]


def display_path(path: Path) -> str:
    """A path with the home directory shown as `~`."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


class HoloLoomApp(App[None]):
    """The operator's terminal: Chat plus five tabs of live engine state."""

    CSS_PATH = "app.tcss"
    TITLE = "HoloLoom ChatOps"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("f2", "cycle_speaker", "Speaker", id="chat.speaker"),
        Binding("f3", "pick_scenario", "Scenario", id="chat.scenario"),
        Binding("f4", "toggle_to_bot", "Ask bot", id="chat.to_bot"),
        Binding("f5", "show_dashboard", "Dashboard", id="app.dashboard"),
        Binding("f6", "next_room", "Room", id="chat.next_room"),
        *[
            Binding(f"alt+{number}", f"show_tab('{tab_id}')", title, id=f"tab.{tab_id}", show=False)
            for number, (tab_id, title) in enumerate(TABS, start=1)
        ],
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(self, engine: Engine, *, scenario: Scenario | None = None, watch_css: bool = False) -> None:
        super().__init__(watch_css=watch_css)
        self.engine = engine
        self.initial_scenario = scenario
        self.rooms: dict[str, LocalRoom] = {}
        self.bridge: EngineBridge | None = None
        self.engine_restarts = 0
        self.matrix_restarts = 0

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Status bar, the six tabs, the footer."""
        yield StatusBar(id="status-bar")
        with TabbedContent(initial="chat", id="tabs"):
            with TabPane("Chat", id="chat"):
                yield ChatTab(self.engine.bot_name, id="chat-tab")
            with TabPane("Self-Improving", id="self-improving"):
                yield SelfImprovingTab(id="self-improving-tab")
            with TabPane("Team Learning", id="team-learning"):
                yield TeamLearningTab(id="team-learning-tab")
            with TabPane("Marketplace", id="marketplace"):
                yield MarketplaceTab(id="marketplace-tab")
            with TabPane("Predictive Quality", id="predictive-quality"):
                yield PredictiveQualityTab(id="predictive-quality-tab")
            with TabPane("Multi-Agent", id="multi-agent"):
                yield MultiAgentTab(id="multi-agent-tab")
        yield Footer()

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
        if room_id not in self.rooms:
            self.rooms[room_id] = LocalRoom(self.engine, room_id=room_id)
        return self.rooms[room_id]

    def on_mount(self) -> None:
        """Fill the status bar and the chat from the store, then start the engine."""
        config = self.engine.config
        bar = self.status_bar
        bar.mode = config.mode
        bar.provider = self.engine.provider.name
        bar.data_path = display_path(config.database_path)
        bar.stats = self.engine.stats.as_dict()
        self.chat.room_id = DEFAULT_ROOM
        self._show_room(DEFAULT_ROOM)
        self.start_engine()
        if config.matrix.configured:
            bar.matrix = {"state": "connecting"}
            self.start_matrix()
        if self.initial_scenario is not None:
            self.run_scenario(self.initial_scenario)

    # -- the engine worker -----------------------------------------------------------------------

    @work(group="engine", exit_on_error=False, name="engine")
    async def start_engine(self) -> None:
        """Start the engine and pump its events to the UI until the app exits."""
        await self.engine.start(long_running=True)
        if self.bridge is not None:
            self.bridge.close()
        self.bridge = EngineBridge(self.engine.bus, self)
        await self.bridge.run()

    @work(group="matrix", exit_on_error=False, name="matrix")
    async def start_matrix(self) -> None:
        """Run the Matrix bot on the app's loop until the app exits (errors restart it with backoff)."""
        from hololoom_core.transport.matrix.transport import MatrixTransport

        transport = self.engine.find_capability(MatrixBot) or MatrixTransport(self.engine)
        await transport.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Tell the operator when a worker fails; restart the engine worker with backoff."""
        if event.state != WorkerState.ERROR:
            return
        worker = event.worker
        error = worker.error
        self.notify(f"{worker.name or worker.group} failed: {error}", title="HoloLoom", severity="error", timeout=8)
        if worker.group == "engine":
            self.engine_restarts += 1
            delay = min(30.0, 0.5 * 2 ** min(self.engine_restarts, 6))
            self.set_timer(delay, self.start_engine)
        elif worker.group == "matrix":
            self.matrix_restarts += 1
            self.set_timer(min(60.0, 2.0 * 2 ** min(self.matrix_restarts, 5)), self.start_matrix)

    # -- engine updates --------------------------------------------------------------------------

    @on(EngineUpdate)
    def _engine_update(self, update: EngineUpdate) -> None:
        overview_dirty = False
        for event in update.events:
            if isinstance(event, MessageStored):
                self.chat.add_message(event.message)
            elif isinstance(event, StatsChanged):
                self.status_bar.stats = event.stats
            elif isinstance(event, StatusChanged) and event.part == "llm":
                self.status_bar.provider_state = event.state
            elif isinstance(event, StatusChanged) and event.part == "matrix":
                self.status_bar.matrix = {"state": event.state, "detail": event.detail, **event.extra}
            elif isinstance(event, EngineError):
                self.notify(f"{event.where}: {event.error}", title="Engine", severity="warning", timeout=6)
            elif isinstance(event, AnswerDelta):
                self.chat.stream_delta(event.room_id, event.message_id, event.text)
            if isinstance(event, (AnswerReady, FeedbackRecorded, ExperimentChanged)):
                overview_dirty = True
        if any(isinstance(e, (MessageStored, StatusChanged)) for e in update.events):
            self.chat.set_rooms(self.engine.messages.rooms())
        if any(isinstance(e, (InsightDetected, MemoryChanged)) for e in update.events):
            self._refresh_memory()
        if overview_dirty:
            self._refresh_active_overview()

    def _refresh_active_overview(self) -> None:
        active = self.query_one(TabbedContent).active
        if active == "chat":
            return
        tab = self.query_one(f"#{active}-tab", OverviewTab)
        tab.overview = build_overview(self.engine)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.query_one(TabbedContent).active == "chat":
            self.chat.focus_composer()
        self._refresh_active_overview()

    # -- chat ------------------------------------------------------------------------------------

    def _show_room(self, room_id: str) -> None:
        self.chat.room_id = room_id
        self.chat.set_rooms(self.engine.messages.rooms())
        self.chat.show_history(self.engine.messages.recent(room_id, limit=200))
        self._sync_speaker()
        self._refresh_memory()

    def _refresh_memory(self) -> None:
        """Show the current room's decisions, open action items and open questions in the memory panel."""
        from hololoom_core.memory.service import MemoryService  # loaded with the engine, not at app import

        memory = self.engine.find_capability(MemoryService)
        if memory is not None:
            self.query_one(MemoryPanel).digest = memory.room_digest(self.chat.room_id)

    def _sync_speaker(self) -> None:
        room = self.room(self.chat.room_id)
        user = room.user(self.chat.speaker)
        self.chat.speaker_name = user.display_name

    @on(ChatTab.RoomChosen)
    def _room_chosen(self, event: ChatTab.RoomChosen) -> None:
        self._show_room(event.room_id)

    def room_choices(self) -> list[tuple[str, str]]:
        """Every room the Chat tab can show: (room id, name), the simulated ones and Matrix ones."""
        rooms = self.engine.messages.rooms()
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

    @on(ChatTab.Send)
    def _send(self, event: ChatTab.Send) -> None:
        matrix = self.engine.find_capability(MatrixBot)
        if matrix is not None and matrix.state.room(event.room_id) is not None:
            self.send_matrix(event.room_id, event.text)
            return
        self.send_chat(event.room_id, event.speaker, event.text, event.to_bot)

    @work(group="send", exit_on_error=False, name="send-matrix")
    async def send_matrix(self, room_id: str, text: str) -> None:
        """Say something in a Matrix room as the bot; it is stored, then sent by the transport's outbox."""
        try:
            await self.engine.capability(MatrixBot).send_as_bot(room_id, text)
        except ValueError as exc:
            self.notify(str(exc), title="Matrix", severity="warning", timeout=6)

    @work(group="send", exit_on_error=False, name="send")
    async def send_chat(self, room_id: str, speaker: str, text: str, to_bot: bool) -> None:
        """Post a message into the simulated room; the replies arrive through the bridge."""
        self.status_bar.activity = "answering…" if to_bot or "@" in text else ""
        try:
            await self.room(room_id).post(speaker, text, to_bot=to_bot)
        finally:
            self.status_bar.activity = ""

    # -- scenarios -------------------------------------------------------------------------------

    def run_scenario(self, scenario: Scenario) -> None:
        """Switch to the scenario's room and replay it live."""
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
        bar = self.status_bar

        def progress(index: int, total: int, *_: Any) -> None:
            bar.activity = f"scenario {scenario.name} {index}/{total}"

        try:
            await play_scenario(scenario, self.room(scenario.room), on_progress=progress)
            self.notify(f"Scenario {scenario.name} finished ({len(scenario.messages)} messages).", timeout=5)
        except asyncio.CancelledError:
            raise
        finally:
            bar.activity = ""

    def start_scenario_by_name(self, name: str) -> None:
        """Load and replay a scenario; a bad one is reported, not raised."""
        try:
            scenario = load_scenario(name)
        except ScenarioError as exc:
            self.notify(str(exc), title="Scenario", severity="error", timeout=8)
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

        def chosen(name: str | None) -> None:
            if name:
                self.start_scenario_by_name(name)

        self.push_screen(ScenarioPicker(shipped_scenarios()), chosen)

    def action_show_dashboard(self) -> None:
        """Open the dashboard (host and bot figures, open incidents, approvals)."""
        self.push_screen(DashboardScreen(self.engine))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Command-palette entries: tabs, speakers, scenarios, plus Textual's own."""
        yield from super().get_system_commands(screen)
        for tab_id, title in TABS:
            yield SystemCommand(f"Show {title}", f"Switch to the {title} tab", lambda t=tab_id: self.action_show_tab(t))
        for user in self.room(self.chat.room_id).users:
            yield SystemCommand(
                f"Speak as {user.display_name}", f"Type in Chat as {user.id}", lambda u=user.id: self.set_speaker(u)
            )
        for name, title in shipped_scenarios().items():
            yield SystemCommand(f"Start scenario: {name}", title, lambda n=name: self.start_scenario_by_name(n))
        for room_id, name in self.room_choices():
            yield SystemCommand(f"Open room: {name}", f"Show {room_id} in Chat", lambda r=room_id: self._show_room(r))
        yield SystemCommand("Toggle ask-the-bot", "Address every Chat message to the bot", self.action_toggle_to_bot)
        yield SystemCommand("Show dashboard", "Host and bot figures, open incidents, approvals (F5)",
                            self.action_show_dashboard)

    async def on_unmount(self) -> None:
        """Stop the Matrix bot (unfinished work resumes next start), stop the bridge and close the engine."""
        matrix = self.engine.find_capability(MatrixBot)
        if matrix is not None:
            matrix.stop()
            for worker in [w for w in self.workers if w.group == "matrix"]:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(worker.wait(), 10)
        if self.bridge is not None:
            self.bridge.close()
        await self.engine.close()


def make_app(
    config: Config,
    *,
    engine: Engine | None = None,
    scenario: Scenario | None = None,
    clock: Clock | None = None,
) -> HoloLoomApp:
    """Build the app for the CLI and for tests: a real engine on the configured data dir unless one is given."""
    return HoloLoomApp(engine or Engine(config, clock=clock), scenario=scenario)
