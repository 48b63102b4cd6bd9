"""The answer path's retriever with memory: runbooks as before, earlier messages by hybrid recall."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.answering import AnswerContext, Configuration, KeywordRetriever
from hololoom_core.memory.search import RecallFilters
from hololoom_core.models import Source
from hololoom_core.text.terms import term_set

if TYPE_CHECKING:
    from hololoom_core.memory.service import MemoryService


class MemoryRetriever:
    """Keeps the keyword retriever's runbook sources and finds message sources with `MemoryService.recall`.

    A recalled message is cited when it shares enough content terms with the question (as the
    keyword retriever demands) or, in the embedding modes, when its similarity clears
    `memory.min_similarity`; so a paraphrase can be cited, an unrelated message cannot.
    """

    def __init__(self, memory: MemoryService, base: KeywordRetriever, min_similarity: float) -> None:
        self.memory = memory
        self.base = base
        self.min_similarity = min_similarity

    def retrieve(self, context: AnswerContext, configuration: Configuration) -> list[Source]:
        """Runbook sources first, then message sources; an experiment variant may override the limits and mode."""
        params = configuration.params
        return self.base.runbook_sources(context.question, params.get("max_runbooks")) + self.message_sources(
            context,
            limit=params.get("max_sources"),
            min_overlap=params.get("min_overlap"),
            mode=params.get("retrieval_mode"),
        )

    def message_sources(
        self,
        context: AnswerContext,
        limit: int | None = None,
        min_overlap: float | None = None,
        mode: str | None = None,
    ) -> list[Source]:
        """Earlier messages relevant to the question, cited with time, room and author."""
        limit = self.base.max_messages if limit is None else limit
        min_overlap = self.base.min_overlap if min_overlap is None else min_overlap
        question_terms = term_set(context.question)
        if limit == 0 or not question_terms:
            return []
        exclude = (context.message_id,) if context.message_id is not None else ()
        result = self.memory.recall(
            context.question, k=limit * 4, mode=mode, filters=RecallFilters(exclude_ids=exclude)
        )
        sources: list[Source] = []
        seen: set[str] = set()
        for hit in result.hits:
            message = hit.message
            shared = question_terms & term_set(message.body)
            overlap = len(shared) / len(question_terms)
            lexical = len(shared) >= min(2, len(question_terms)) and overlap >= min_overlap
            semantic = hit.similarity is not None and hit.similarity >= self.min_similarity
            if not (lexical or semantic):
                continue
            normalised = " ".join(message.body.lower().split())
            if normalised in seen:
                continue
            seen.add(normalised)
            sources.append(
                Source(
                    kind="message",
                    ref=message.event_id,
                    title=f"message {message.id}",
                    excerpt=message.body,
                    score=round(max(overlap, hit.similarity or 0.0), 4),
                    ts=message.ts,
                    room_id=message.room_id,
                    author=message.author,
                    message_id=message.id,
                )
            )
            if len(sources) >= limit:
                break
        return sources
