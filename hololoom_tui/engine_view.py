"""What the tabs may read from the engine, handed to them at construction (they never reach for the engine).

The app builds the view before the engine exists (the engine is built after the first frame) and binds
the engine to it later; until then every read answers "nothing yet".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hololoom_core.engine import Engine
    from hololoom_core.engine.overview import EngineOverview
    from hololoom_core.learning import TeamLearning
    from hololoom_core.marketplace.capability import MarketplaceRuntime
    from hololoom_core.memory.service import RoomDigest
    from hololoom_core.models import StoredMessage
    from hololoom_core.ops.dashboard import Dashboard


class EngineView:
    """Read-only figures and history from the engine, or empty answers while it is starting."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine

    @property
    def ready(self) -> bool:
        """True once an engine is bound."""
        return self.engine is not None

    def bind(self, engine: Engine) -> None:
        """Read from this engine from now on."""
        self.engine = engine

    def overview(self, recent: int = 30) -> EngineOverview | None:
        """The engine overview (counters, agents, recent answers, capability figures), or None before start."""
        if self.engine is None:
            return None
        from hololoom_core.engine.overview import build_overview  # with the engine, after the first frame

        return build_overview(self.engine, recent=recent)

    def dashboard(self) -> Dashboard | None:
        """The `!status` figures (host, bot, open incidents, approvals), or None when not available."""
        overview = self.overview(recent=1)
        return overview.extra.get("dashboard") if overview is not None else None

    def rooms(self) -> list[dict[str, Any]]:
        """Every room with messages: id, name and transport."""
        return self.engine.messages.rooms() if self.engine is not None else []

    def recent(self, room_id: str, limit: int = 200) -> list[StoredMessage]:
        """The newest messages of a room, oldest first."""
        return self.engine.messages.recent(room_id, limit=limit) if self.engine is not None else []

    def app_ratings(self, interaction_ids: list[Any], user_id: str | None = None) -> dict[int, int]:
        """The ratings (+1 / -1) given from the app to these interactions (by `user_id`, or by anyone: the newest)."""
        ids = [value for value in interaction_ids if isinstance(value, int)]
        if self.engine is None or not ids:
            return {}
        marks = ",".join("?" * len(ids))
        sql = f"SELECT interaction_id, value FROM feedback WHERE source = 'app' AND interaction_id IN ({marks})"
        params: tuple[Any, ...] = tuple(ids)
        if user_id is not None:
            sql += " AND user_id = ?"
            params += (user_id,)
        rows = self.engine.store.query(sql + " ORDER BY id", params)
        return {int(row["interaction_id"]): int(row["value"]) for row in rows}

    def room_digest(self, room_id: str) -> RoomDigest | None:
        """The room's decisions, open action items and open questions, or None without room memory."""
        if self.engine is None:
            return None
        from hololoom_core.memory.service import MemoryService  # loaded with the engine, not at app import

        memory = self.engine.find_capability(MemoryService)
        return memory.room_digest(room_id) if memory is not None else None

    def marketplace(self) -> MarketplaceRuntime | None:
        """The marketplace of the running engine (search, install, rollback, rate), or None when off."""
        if self.engine is None:
            return None
        from hololoom_core.marketplace.capability import MarketplaceRuntime  # loaded with the engine

        return self.engine.find_capability(MarketplaceRuntime)

    def workflow_counts(self) -> tuple[int, int]:
        """How many workflows the running library holds, and how many of them came from packages."""
        if self.engine is None:
            return 0, 0
        from hololoom_core.ops.workflows.service import WorkflowService

        service = self.engine.find_capability(WorkflowService)
        if service is None:
            return 0, 0
        return len(service.library), len(service.library.packages)

    def team_learning(self) -> TeamLearning | None:
        """The team learning service (mining, export, docs), or None before start or when it is not installed."""
        if self.engine is None:
            return None
        from hololoom_core.learning import TeamLearning  # loaded with the engine, not at app import

        return self.engine.find_capability(TeamLearning)
