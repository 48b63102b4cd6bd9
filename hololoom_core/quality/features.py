"""Pre-answer features for quality prediction: what can be known about a question before answering it.

Everything here runs before retrieval and must stay well under a millisecond: one SQLite FTS5
BM25 query (top-k scores only), an inverted-index lookup over the runbooks, set lookups in an
in-memory vocabulary, an entity scan, and in-memory windows of each room's recent messages and each
asker's recent questions (filled by the keeper and the answer observer, seeded from the store at start).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hololoom_core.answers.types import AnswerContext, RoutingDecision
from hololoom_core.store.messages import fts_query
from hololoom_core.text.entities import Entity, extract_entities
from hololoom_core.text.terms import term_set

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine
    from hololoom_core.llm.runbooks import RunbookLibrary

TOP_K = 10
FIRST_PASS_TERMS = 8  # the cheap first pass ranks on the question's first 8 content words
ACTIVITY_WINDOW_S = 600.0
VOCABULARY_SEED_MESSAGES = 20_000
ROOM_TIMES_LIMIT = 1000

# The feature names, in the order the model sees them (all floats, roughly in [0, 1]).
FEATURE_NAMES: tuple[str, ...] = (
    "bm25_max", "bm25_mean", "bm25_spread", "bm25_hits",
    "runbook_strength", "runbook_margin",
    "router_confidence", "router_margin",
    "query_terms", "unknown_share", "entities",
    "agent_prior", "room_activity", "reask",
)


def squash(value: float, scale: float) -> float:
    """Map a non-negative score to [0, 1): value / (value + scale)."""
    value = max(0.0, value)
    return value / (value + scale)


def without_spans(text: str, entities: list[Entity]) -> str:
    """The text with the entities' spans (hosts, URLs, services ...) blanked: they never match a runbook."""
    if not entities:
        return text
    parts, position = [], 0
    for entity in sorted(entities, key=lambda item: item.start):
        parts.append(text[position:entity.start])
        position = max(position, entity.end)
    parts.append(text[position:])
    return " ".join(parts)


class RunbookIndex:
    """An inverted index of runbook terms (IDF-weighted), for a match strength in microseconds.

    It approximates the runbook library's own confidence (keywords + BM25 coverage) with the share of
    the question's IDF weight that each runbook covers, keywords counting double.
    """

    def __init__(self, runbooks: RunbookLibrary) -> None:
        postings: dict[str, set[str]] = defaultdict(set)
        keyword_terms: dict[str, set[str]] = defaultdict(set)
        for runbook in runbooks.runbooks.values():
            for term in term_set(runbook.text):
                postings[term].add(runbook.id)
            for keyword in runbook.keywords:
                for term in term_set(keyword):
                    keyword_terms[term].add(runbook.id)
                    postings[term].add(runbook.id)
        total = max(1, len(runbooks.runbooks))
        self.postings = dict(postings)
        self.keyword_terms = dict(keyword_terms)
        self.idf = {term: math.log(1 + (total - len(ids) + 0.5) / (len(ids) + 0.5)) for term, ids in postings.items()}
        self.unknown_idf = max(self.idf.values(), default=1.0)
        self.vocabulary = frozenset(postings)

    def strength(self, question_terms: frozenset[str]) -> tuple[float, float]:
        """The best runbook's match strength in [0, 1] and its margin over the second best.

        Strength = 0.6 x the share of the question's IDF weight found among a runbook's keywords
        + 0.4 x the share found anywhere in its text (keywords are what the runbook is about).
        """
        if not question_terms:
            return 0.0, 0.0
        total = sum(self.idf.get(term, self.unknown_idf) for term in question_terms)
        covered: dict[str, float] = defaultdict(float)
        for term in question_terms:
            ids = self.postings.get(term)
            if not ids:
                continue
            weight = self.idf[term] / total
            keyed = self.keyword_terms.get(term, ())
            for runbook_id in ids:
                covered[runbook_id] += (0.4 + 0.6 * (runbook_id in keyed)) * weight
        if not covered:
            return 0.0, 0.0
        ranked = sorted(covered.values(), reverse=True)
        best = min(1.0, ranked[0])
        second = min(1.0, ranked[1]) if len(ranked) > 1 else 0.0
        return best, best - second


@dataclass(slots=True)
class AgentPrior:
    """The running mean judged quality of one agent's answers (a prior for the next one)."""

    total: float = 0.0
    count: int = 0

    def mean(self, default: float) -> float:
        """The mean, shrunk toward `default` by two pseudo-observations."""
        return (self.total + 2.0 * default) / (self.count + 2.0)


class FeatureExtractor:
    """Computes the pre-answer features of a question, with the state they need (vocabulary, agent priors)."""

    def __init__(self, engine: Engine, reask_window_s: float, reask_similarity: float) -> None:
        self.engine = engine
        self.runbooks = RunbookIndex(engine.runbooks)
        self.runbooks_version = engine.runbooks.version
        self.reask_window_s = reask_window_s
        self.reask_similarity = reask_similarity
        self.vocabulary: set[str] = set()
        self.vocabulary_seeded = False
        self.agent_priors: dict[str, AgentPrior] = defaultdict(AgentPrior)
        self.default_quality = 0.75
        self.room_times: dict[str, deque[float]] = defaultdict(deque)
        self.asked: dict[str, deque[tuple[float, frozenset[str]]]] = defaultdict(lambda: deque(maxlen=10))

    # -- state ---------------------------------------------------------------------------------

    def seed_vocabulary(self) -> None:
        """Fill the vocabulary sketch from the newest stored messages (once, on the first prediction)."""
        rows = self.engine.store.query(
            "SELECT body FROM messages WHERE redacted = 0 AND is_bot = 0 ORDER BY id DESC LIMIT ?",
            (VOCABULARY_SEED_MESSAGES,),
        )
        for row in rows:
            self.vocabulary.update(term_set(row[0]))
        self.vocabulary_seeded = True

    def learn_agent_quality(self, agent: str, judged: float) -> None:
        """Fold a judged quality into the agent's running mean."""
        prior = self.agent_priors[agent]
        prior.total += judged
        prior.count += 1

    # -- features ------------------------------------------------------------------------------

    def bm25_scores(self, context: AnswerContext) -> list[float]:
        """The top-k BM25 scores (positive, best first) of earlier people's messages for the question."""
        query = fts_query(context.question, max_terms=FIRST_PASS_TERMS)
        if not query:
            return []
        exclude = context.message_id if context.message_id is not None else -1
        rows = self.engine.store.query(
            "SELECT -bm25(messages_fts) AS score FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "WHERE messages_fts MATCH ? AND m.redacted = 0 AND m.is_bot = 0 AND m.id != ? "
            "ORDER BY bm25(messages_fts) LIMIT ?",
            (query, exclude, TOP_K),
        )
        return [max(0.0, float(row[0])) for row in rows]

    def room_activity(self, room_id: str | None) -> float:
        """Messages in the room over the last ten minutes, squashed to [0, 1) (kept in memory by the keeper)."""
        if not room_id:
            return 0.0
        times = self.room_times.get(room_id)
        if not times:
            return 0.0
        since = self.engine.clock.now() - ACTIVITY_WINDOW_S
        while times and times[0] < since:
            times.popleft()
        return squash(float(len(times)), 10.0)

    def recent_reask(self, context: AnswerContext, question_terms: frozenset[str]) -> float:
        """1.0 when the same asker asked a similar question (term Jaccard) within the re-ask window."""
        if not context.asker or not question_terms:
            return 0.0
        asked = self.asked.get(context.asker)
        if not asked:
            return 0.0
        since = self.engine.clock.now() - self.reask_window_s
        for ts, earlier in reversed(asked):
            if ts < since:
                break
            if earlier and len(question_terms & earlier) / len(question_terms | earlier) >= self.reask_similarity:
                return 1.0
        return 0.0

    def learn_message(self, room_id: str, ts: float, text: str) -> None:
        """A kept message: its room's activity and, once the sketch is seeded, its words."""
        times = self.room_times[room_id]
        times.append(ts)
        if len(times) > ROOM_TIMES_LIMIT:
            times.popleft()
        if self.vocabulary_seeded:
            self.vocabulary.update(term_set(text))

    def learn_question(self, asker: str | None, ts: float, question: str) -> None:
        """An answered question: remembered per asker for re-ask detection."""
        if asker:
            asked = self.asked[asker]
            asked.append((ts, term_set(question)))

    def seed_recent(self) -> None:
        """Room activity and askers' questions of the last window, from the store (at start-up)."""
        now = self.engine.clock.now()
        for row in self.engine.store.query(
            "SELECT room_id, ts FROM messages WHERE ts >= ? ORDER BY ts", (now - ACTIVITY_WINDOW_S,)
        ):
            self.room_times[row[0]].append(float(row[1]))
        for row in self.engine.store.query(
            "SELECT asker, created_ts, query FROM interactions WHERE created_ts >= ? ORDER BY id",
            (now - self.reask_window_s,),
        ):
            self.learn_question(row[0], float(row[1]), row[2])

    def compute(self, context: AnswerContext, decision: RoutingDecision) -> dict[str, float]:
        """Every feature of `FEATURE_NAMES` for this question and routing decision."""
        if not self.vocabulary_seeded:
            self.seed_vocabulary()
        if self.runbooks_version != self.engine.runbooks.version:  # a package added or removed runbooks
            self.runbooks = RunbookIndex(self.engine.runbooks)
            self.runbooks_version = self.engine.runbooks.version
        question_terms = term_set(context.question)
        scores = self.bm25_scores(context)
        if scores:
            mean = sum(scores) / len(scores)
            spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
            bm25_max, bm25_mean = squash(scores[0], 5.0), squash(mean, 5.0)
            bm25_spread = squash(spread, 2.0)  # NQC: the spread of the top scores
        else:
            bm25_max = bm25_mean = bm25_spread = 0.0
        entities = extract_entities(context.question)
        strength, margin = self.runbooks.strength(term_set(without_spans(context.question, entities)))
        if question_terms:
            unknown = sum(
                1 for term in question_terms if term not in self.runbooks.vocabulary and term not in self.vocabulary
            )
            unknown_share = unknown / len(question_terms)
        else:
            unknown_share = 1.0
        prior = self.agent_priors.get(decision.agent)
        return {
            "bm25_max": bm25_max,
            "bm25_mean": bm25_mean,
            "bm25_spread": bm25_spread,
            "bm25_hits": len(scores) / TOP_K,
            "runbook_strength": strength,
            "runbook_margin": margin,
            "router_confidence": float(decision.confidence),
            "router_margin": float(decision.margin),
            "query_terms": squash(float(len(question_terms)), 6.0),
            "unknown_share": unknown_share,
            "entities": squash(float(len(entities)), 2.0),
            "agent_prior": prior.mean(self.default_quality) if prior else self.default_quality,
            "room_activity": self.room_activity(context.room_id),
            "reask": self.recent_reask(context, question_terms),
        }
