"""Team learning: mine rated answers and resolved incidents into training data and best-practice docs.

`TeamLearningCapability` installs the `TeamLearning` service (`engine.capability(TeamLearning)`), its tables
and the `!learning` commands. The pieces: `consent` (rooms and opt-outs), `mining` (what qualifies and
why not), `cleaning` + `pii` (redaction on the way out), `dedup` (MinHash LSH near-duplicates), `export`
+ `card` (JSONL, schema, dataset card), `docs` (topic pages) and `service` (the whole, and promotion of a
page to a runbook candidate). See docs/team-learning.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.capabilities import Capability
from hololoom_core.learning.commands import install_learning_commands
from hololoom_core.learning.consent import LEARNING_V1
from hololoom_core.learning.service import TeamLearning

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

__all__ = ["TeamLearning", "TeamLearningCapability"]


class TeamLearningCapability(Capability):
    """Provides `TeamLearning`, owns the `learning` tables, registers `!learning` and the overview panel."""

    name = "learning"
    migrations = {"learning": [LEARNING_V1]}

    def install(self, engine: Engine) -> None:
        """Create the service and register its command and figures."""
        learning = TeamLearning(engine)
        engine.provide(learning)
        install_learning_commands(engine, learning)
        engine.overview_panels["team_learning"] = lambda _engine: learning.status()
