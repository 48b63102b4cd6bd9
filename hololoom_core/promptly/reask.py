"""Re-ask detection: the same person asking a similar question again soon means the answer did not help.

After every answer, earlier answers to the same asker within the window are compared with the
new question (content-term Jaccard similarity); the most recent similar one gets a 👎 with
source `reask`, recorded through `Engine.record_feedback` so every feedback observer (the
experiments among them) learns from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.answers.types import AnswerContext
from hololoom_core.models import Answer
from hololoom_core.text.terms import term_set

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


def similarity(first: str, second: str) -> float:
    """Jaccard similarity of the content terms of two questions, in [0, 1]."""
    a, b = term_set(first), term_set(second)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


class ReaskDetector:
    """An answer observer that marks the earlier answer a question repeats."""

    def __init__(self, engine: Engine, window_minutes: float, min_similarity: float) -> None:
        self.engine = engine
        self.window_s = window_minutes * 60.0
        self.min_similarity = min_similarity

    def __call__(self, answer: Answer, context: AnswerContext) -> None:
        """Look back for a similar question by the same asker and record the re-ask on it."""
        if self.window_s <= 0 or not context.asker or answer.interaction_id is None:
            return
        earlier = self.find_repeated(context.asker, context.question, answer.interaction_id)
        if earlier is None:
            return
        interaction_id, score = earlier
        self.engine.record_feedback(interaction_id, context.asker, -1, "reask", ref=str(answer.interaction_id))

    def find_repeated(self, asker: str, question: str, current_id: int) -> tuple[int, float] | None:
        """The newest earlier interaction by `asker` in the window whose question is similar enough."""
        since = self.engine.clock.now() - self.window_s
        rows = self.engine.store.query(
            "SELECT id, query FROM interactions WHERE asker = ? AND id < ? AND created_ts >= ? "
            "ORDER BY id DESC LIMIT 20",
            (asker, current_id, since),
        )
        for row in rows:
            score = similarity(question, row["query"])
            if score >= self.min_similarity:
                return int(row["id"]), score
        return None
