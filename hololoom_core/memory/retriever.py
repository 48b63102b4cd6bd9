"""Memory's message search for the answer path: earlier messages by hybrid recall (BM25 + embeddings + graph)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.answers.types import AnswerContext, MessageCandidate
from hololoom_core.memory.search import RecallFilters

if TYPE_CHECKING:
    from hololoom_core.memory.service import MemoryService


class MemoryMessageSearch:
    """Fills the answer path's `message_search` slot with `MemoryService.recall`.

    The `messages` stage of the retriever chain cites a recalled message when it shares enough
    terms with the question or its similarity clears `memory.min_similarity`.
    """

    def __init__(self, memory: MemoryService, min_similarity: float) -> None:
        self.memory = memory
        self.min_similarity = min_similarity

    def candidates(self, context: AnswerContext, k: int, mode: str | None = None) -> list[MessageCandidate]:
        """Up to `k` recalled messages, best first, never the question itself."""
        exclude = (context.message_id,) if context.message_id is not None else ()
        result = self.memory.recall(context.question, k=k, mode=mode,
                                    filters=RecallFilters(exclude_ids=exclude, scope=context.rooms))
        return [MessageCandidate(hit.message, hit.similarity) for hit in result.hits]
