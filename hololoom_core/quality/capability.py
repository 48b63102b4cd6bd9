"""Installs predictive quality: the answer path's quality predictor, its observers, its tables and its panel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.capabilities import Capability
from hololoom_core.models import ChatMessage, StoredMessage
from hololoom_core.quality.schema import QUALITY_V1
from hololoom_core.quality.service import QualityService

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class QualityCapability(Capability):
    """Fills `answer_path.quality_predictor`; learns from answers, feedback and re-asks; provides `QualityService`."""

    name = "quality"
    after = ("promptly", "memory", "agents")
    migrations = {"quality": [QUALITY_V1]}

    def install(self, engine: Engine) -> None:
        """Load the model, fill the slot and register the observers, the keeper, the panel and the shutdown save."""
        service = QualityService(engine)
        how = service.load()
        engine.set_status("quality", "ok", f"quality model {how}")
        engine.answer_path.quality_predictor = service
        engine.answer_path.observers.append(service.observe_answer)
        engine.feedback_observers.append(service.observe_feedback)

        def learn_words(stored: StoredMessage, message: ChatMessage) -> None:
            service.features.learn_message(stored.room_id, stored.ts, "" if stored.is_bot else stored.body)

        engine.keepers.append(learn_words)
        engine.shutdown_hooks.append(service.close)
        engine.overview_panels["quality"] = lambda _engine: service.report(label=False)
        engine.provide(service)
