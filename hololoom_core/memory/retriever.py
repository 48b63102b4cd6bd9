"""Memory's stage in the answer path's retriever chain: earlier messages by hybrid recall."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.answers.types import AnswerContext, Configuration
from hololoom_core.engine.answering import MessageLimits, already_cited, message_source, shares_enough_terms
from hololoom_core.memory.search import RecallFilters
from hololoom_core.models import Source
from hololoom_core.text.terms import term_set

if TYPE_CHECKING:
    from hololoom_core.memory.service import MemoryService


class MemoryRetriever:
    """Adds the messages `MemoryService.recall` finds that earlier stages did not cite.

    A recalled message is cited when it shares enough content terms with the question (as the
    keyword stage demands) or, in the embedding modes, when its similarity clears
    `memory.min_similarity`; so a paraphrase can be cited, an unrelated message cannot. It runs
    before the keyword `messages` stage, which then fills any budget recall left over.
    """

    name = "memory"

    def __init__(self, memory: MemoryService, limits: MessageLimits, min_similarity: float) -> None:
        self.memory = memory
        self.limits = limits
        self.min_similarity = min_similarity

    def retrieve(self, context: AnswerContext, configuration: Configuration, found: list[Source]) -> list[Source]:
        """Recalled messages not yet cited, up to the remaining budget; a variant may set `retrieval_mode`."""
        limit, min_overlap = self.limits.resolve(configuration, found)
        return self.message_sources(context, limit, min_overlap, configuration.params.get("retrieval_mode"), found)

    def message_sources(
        self,
        context: AnswerContext,
        limit: int,
        min_overlap: float,
        mode: str | None = None,
        found: list[Source] | None = None,
    ) -> list[Source]:
        """Earlier messages relevant to the question, cited with time, room and author."""
        question_terms = term_set(context.question)
        if limit == 0 or not question_terms:
            return []
        exclude = (context.message_id,) if context.message_id is not None else ()
        result = self.memory.recall(
            context.question, k=limit * 4, mode=mode, filters=RecallFilters(exclude_ids=exclude)
        )
        cited_ids, seen = already_cited(found or [])
        sources: list[Source] = []
        for hit in result.hits:
            message = hit.message
            lexical, overlap = shares_enough_terms(question_terms, message.body, min_overlap)
            semantic = hit.similarity is not None and hit.similarity >= self.min_similarity
            normalised = " ".join(message.body.lower().split())
            if not (lexical or semantic) or message.id in cited_ids or normalised in seen:
                continue
            seen.add(normalised)
            sources.append(message_source(message, max(overlap, hit.similarity or 0.0)))
            if len(sources) >= limit:
                break
        return sources
