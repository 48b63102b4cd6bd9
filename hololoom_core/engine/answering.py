"""The answer path: choose a configuration, route to an agent, retrieve context, generate, judge, record.

Each stage is a replaceable part held by `AnswerPath`, so later capabilities (hybrid retrieval,
experiments, the loop DSL, multi-agent routing, quality prediction) plug in without touching
the pipeline.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hololoom_core.answers.judge import HeuristicJudge, Judge
from hololoom_core.answers.types import (
    Agent,
    AnswerCache,
    AnswerContext,
    AnswerObserver,
    Configuration,
    ConfigurationChooser,
    LoopResult,
    MessageCandidate,
    MessageSearch,
    QualityForecast,
    QualityPredictor,
    Reranker,
    Retriever,
    Router,
    RoutingDecision,
    first_agent,
)
from hololoom_core.answers.ultraprompt import missing_sections, parse_sections, render_sections
from hololoom_core.engine.room_context import (
    QUESTION_RUNBOOK_MIN,
    RoomContextRetriever,
    choose_runbooks,
    is_room_context,
)
from hololoom_core.events import AnswerDelta, AnswerReady, AnswerStarted
from hololoom_core.llm.base import AnswerRequest, LanguageProvider
from hololoom_core.llm.runbooks import RunbookLibrary
from hololoom_core.models import Answer, Source, StoredMessage
from hololoom_core.store.messages import MessageStore
from hololoom_core.text.terms import term_set

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class RunbookRetriever:
    """The first stage of the retriever chain: runbooks matching the question, by BM25 + keywords."""

    name = "runbooks"

    def __init__(self, runbooks: RunbookLibrary, max_runbooks: int = 2) -> None:
        self.runbooks = runbooks
        self.max_runbooks = max_runbooks

    def retrieve(self, context: AnswerContext, configuration: Configuration, found: list[Source]) -> list[Source]:
        """The matching runbooks, the room's recent messages weighing in (see `room_context.choose_runbooks`).

        The `max_runbooks` parameter of a configuration overrides the limit.
        """
        room = [source for source in found if is_room_context(source)]
        if not room:
            return self.runbook_sources(context.question, configuration.params.get("max_runbooks"))
        limit = configuration.params.get("max_runbooks")
        limit = self.max_runbooks if limit is None else int(limit)
        if limit == 0:
            return []
        return [
            Source(kind="runbook", ref=choice.match.runbook.id, title=choice.match.runbook.title,
                   excerpt=choice.match.runbook.summary, score=choice.match.confidence)
            for choice in choose_runbooks(self.runbooks, context.question, room, limit)
        ]

    def runbook_sources(self, question: str, limit: int | None = None) -> list[Source]:
        """The runbooks matching the question, as sources."""
        limit = self.max_runbooks if limit is None else limit
        if limit == 0:
            return []
        # a weak match (one incidental word) is no grounding: "idempotent refund … timeout" is not a latency spike
        matches = [match for match in self.runbooks.search(question, limit=limit)
                   if match.confidence >= QUESTION_RUNBOOK_MIN]
        if matches:  # a second runbook is worth mentioning only when it matches nearly as well
            floor = max(0.5, 0.7 * matches[0].confidence)
            matches = matches[:1] + [match for match in matches[1:] if match.confidence >= floor]
        return [
            Source(
                kind="runbook",
                ref=match.runbook.id,
                title=match.runbook.title,
                excerpt=match.runbook.summary,
                score=match.confidence,
            )
            for match in matches
        ]


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """How many earlier messages the chain may cite, and how many of the question's terms one must share."""

    max_messages: int = 5
    min_overlap: float = 0.3

    def resolve(self, configuration: Configuration, found: list[Source]) -> tuple[int, float]:
        """The remaining message budget (configuration override minus messages already found) and the overlap."""
        params = configuration.params
        limit = self.max_messages if params.get("max_sources") is None else int(params["max_sources"])
        overlap = self.min_overlap if params.get("min_overlap") is None else float(params["min_overlap"])
        already = sum(1 for source in found if source.kind == "message")
        return max(0, limit - already), overlap


def shares_enough_terms(question_terms: AbstractSet[str], body: str, min_overlap: float) -> tuple[bool, float]:
    """Whether a message shares enough content terms with the question to be cited, and the overlap."""
    shared = question_terms & term_set(body)
    overlap = len(shared) / len(question_terms)
    return len(shared) >= min(2, len(question_terms)) and overlap >= min_overlap, overlap


def message_source(message: StoredMessage, score: float) -> Source:
    """An earlier message as a citable source."""
    return Source(
        kind="message",
        ref=message.event_id,
        title=f"message {message.id}",
        excerpt=message.body,
        score=round(score, 4),
        ts=message.ts,
        room_id=message.room_id,
        author=message.author,
        message_id=message.id,
    )


def already_cited(found: list[Source]) -> tuple[set[int], set[str]]:
    """The message ids and normalised bodies the chain has cited so far (so a later stage adds no duplicate)."""
    ids = {source.message_id for source in found if source.kind == "message" and source.message_id is not None}
    bodies = {" ".join(source.excerpt.lower().split()) for source in found if source.kind == "message"}
    return ids, bodies


class KeywordMessageSearch:
    """The default message search: SQLite FTS5 BM25 over earlier messages (no similarity, so lexical matches only)."""

    min_similarity = 1.0

    def __init__(self, messages: MessageStore) -> None:
        self.messages = messages

    def candidates(self, context: AnswerContext, k: int, mode: str | None = None) -> list[MessageCandidate]:
        """Up to `k` earlier messages, best first, never the question itself."""
        exclude = (context.message_id,) if context.message_id is not None else ()
        return [MessageCandidate(hit.message) for hit in self.messages.search(context.question, limit=k,
                                                                              exclude_ids=exclude,
                                                                              scope=context.rooms)]


class MessageRetriever:
    """A retriever stage: earlier messages from the `message_search` slot, cited when they fit the question.

    A candidate is cited when it shares enough content terms with the question or, when the search
    measures similarity (memory's hybrid recall in the embedding modes), when its similarity clears
    the search's `min_similarity`; so a paraphrase can be cited, an unrelated message cannot.
    """

    name = "messages"

    def __init__(self, path: AnswerPath, limits: MessageLimits) -> None:
        self.path = path
        self.limits = limits

    def retrieve(self, context: AnswerContext, configuration: Configuration, found: list[Source]) -> list[Source]:
        """Earlier messages not yet cited, up to the remaining budget; a variant may set `retrieval_mode` and
        `min_similarity` (the similarity that cites a message sharing too few terms)."""
        limit, min_overlap = self.limits.resolve(configuration, found)
        question_terms = term_set(context.question)
        if limit == 0 or not question_terms:
            return []
        search = self.path.message_search
        candidates = search.candidates(context, limit * 4, configuration.params.get("retrieval_mode"))
        cited_ids, seen_bodies = already_cited(found)
        min_similarity = configuration.params.get("min_similarity")
        threshold = search.min_similarity if min_similarity is None else float(min_similarity)
        sources: list[Source] = []
        scope = context.rooms
        for candidate in candidates:
            message = candidate.message
            if not scope.allows(message.room_id):  # a search that ignored the scope must not leak a room
                continue
            lexical, overlap = shares_enough_terms(question_terms, message.body, min_overlap)
            similarity = candidate.similarity
            semantic = similarity is not None and similarity >= threshold
            normalised = " ".join(message.body.lower().split())
            if not (lexical or semantic) or message.id in cited_ids or normalised in seen_bodies:
                continue
            seen_bodies.add(normalised)
            sources.append(message_source(message, max(overlap, similarity or 0.0)))
            if len(sources) >= limit:
                break
        return sources


class RetrieverChain:
    """The answer path's retrievers in order: each stage adds sources; rerankers may only reorder them.

    No stage replaces another: a capability adds its stage (optionally before a named one), and a
    stage that fails is reported and skipped, so the others still ground the answer.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stages: list[Retriever] = []
        self.rerankers: list[Reranker] = []

    def add(self, stage: Retriever, *, before: str | None = None) -> None:
        """Append a stage, or insert it before the stage named `before` (appended when there is none)."""
        names = [existing.name for existing in self.stages]
        if stage.name in names:
            raise ValueError(f"a retriever stage named '{stage.name}' is already in the chain")
        index = names.index(before) if before in names else len(self.stages)
        self.stages.insert(index, stage)

    def add_reranker(self, reranker: Reranker) -> None:
        """Add a reranker; rerankers run after every stage, in the order they were added."""
        self.rerankers.append(reranker)

    def stage(self, name: str) -> Retriever | None:
        """The stage of that name, or None."""
        return next((stage for stage in self.stages if stage.name == name), None)

    def retrieve(self, context: AnswerContext, configuration: Configuration) -> list[Source]:
        """Run every stage, then every reranker; the sources of one stage are never dropped by another."""
        found: list[Source] = []
        for stage in self.stages:
            try:
                found.extend(stage.retrieve(context, configuration, list(found)))
            except Exception as exc:  # one broken stage must not cost the answer its other sources
                self.engine.report_error("retriever", f"{stage.name}: {exc}")
        for reranker in self.rerankers:
            try:
                reordered = reranker.rerank(context, configuration, list(found))
            except Exception as exc:
                self.engine.report_error("reranker", f"{reranker.name}: {exc}")
                continue
            if sorted(map(id, reordered)) != sorted(map(id, found)):
                self.engine.report_error("reranker", f"{reranker.name} added or dropped sources; its order is ignored")
                continue
            found = reordered
        return found


LoopRunner = Callable[
    ["AnswerPath", AnswerRequest, AnswerContext, Configuration, Callable[[str], None]], Awaitable[LoopResult]
]
# Answers a question with several agents (the decision's `agents`) and returns one synthesised result,
# whose `details` carry the contributions and the consensus.
Collaborator = Callable[
    ["AnswerPath", AnswerRequest, AnswerContext, Configuration, RoutingDecision, Callable[[str], None]],
    Awaitable[LoopResult],
]


def checked_decision(decision: RoutingDecision, agents: dict[str, Agent]) -> RoutingDecision:
    """The decision with every agent name known; an unknown agent is replaced by the first registered one."""
    known = [name for name in (decision.agents or (decision.agent,)) if name in agents]
    if decision.agent in agents and len(known) == len(decision.agents or (decision.agent,)):
        return decision
    fallback = decision.agent if decision.agent in agents else next(iter(agents))
    return RoutingDecision(
        agent=fallback,
        confidence=decision.confidence,
        scores=decision.scores,
        runner_up=decision.runner_up,
        margin=decision.margin,
        reason=f"{decision.reason} (unknown agent replaced by '{fallback}')".strip(),
        agents=tuple(dict.fromkeys([fallback, *known])),
        decided_by=decision.decided_by,
    )


async def generate_then_judge(
    path: AnswerPath,
    request: AnswerRequest,
    context: AnswerContext,
    configuration: Configuration,
    on_delta: Callable[[str], None],
) -> LoopResult:
    """The default loop: generate once (falling back to the offline engine on failure or a broken answer), judge."""
    engine = path.engine
    provider_name = path.provider.name
    loop_steps: list[dict[str, Any]] = []
    try:
        text = await path.provider.answer(request, on_delta)
        sections = parse_sections(text)
        loop_steps.append({"step": "generate", "provider": provider_name})
    except Exception as exc:  # a provider outage must not lose the answer
        engine.report_error("answer", f"{provider_name} failed ({exc}); answered with the offline engine")
        text, sections = "", {}
        loop_steps.append({"step": "generate", "provider": provider_name, "error": str(exc)})
    if missing_sections(sections):
        if text:
            loop_steps.append({"step": "repair", "missing": missing_sections(sections)})
        text = await path.fallback.answer(request)
        sections = parse_sections(text)
        provider_name = path.fallback.name
    verdict = path.judge.judge(request.question, sections, request.sources)
    loop_steps.append({"step": "judge", "judge": verdict.judge, "score": verdict.score})
    return LoopResult(text, sections, verdict, provider_name, loop_steps)


class AnswerPath:
    """Runs one question through configuration, routing, retrieval, generation, judging and recording."""

    def __init__(self, engine: Engine, provider: LanguageProvider, fallback: LanguageProvider) -> None:
        self.engine = engine
        self.provider = provider
        self.fallback = fallback
        self.agents: dict[str, Agent] = {
            "generalist": Agent("generalist", "operations generalist: incidents, deploys, infrastructure"),
        }
        answer_config = engine.config.answer
        self.message_limits = MessageLimits(max_messages=answer_config.max_sources)
        self.retrievers = RetrieverChain(engine)  # slot: capabilities add stages and rerankers
        self.retrievers.add(RoomContextRetriever(engine))  # the asker's room: what was just said there
        self.retrievers.add(RunbookRetriever(engine.runbooks, max_runbooks=answer_config.max_runbooks))
        self.message_search: MessageSearch = KeywordMessageSearch(engine.messages)  # slot: memory's hybrid recall
        self.retrievers.add(MessageRetriever(self, self.message_limits))
        self.judge: Judge = HeuristicJudge()  # slot: the judge that scores every answer
        self.choose_configuration: ConfigurationChooser = lambda context: Configuration()  # slot: experiments
        self.route: Router = first_agent  # slot: which agent (or agents) answer, with confidence and reason
        self.collaborate: Collaborator | None = None  # slot: answers a multi-agent decision (else its first agent)
        self.quality_predictor: QualityPredictor | None = None  # slot: forecast before generating (may be empty)
        self.observers: list[AnswerObserver] = []
        self.loop_runner: LoopRunner = generate_then_judge  # slot: generate / judge / refine
        self.cache: AnswerCache | None = None

    async def answer(self, context: AnswerContext) -> Answer:
        """Answer one question and record the interaction; the answer carries its interaction id."""
        engine = self.engine
        started = engine.clock.perf()
        engine.bus.publish(AnswerStarted(context.room_id or "", context.question, context.message_id))
        configuration = self.choose_configuration(context)
        decision = await self.decide(context)
        agent = self.agents[decision.agent]
        forecast = self.forecast(context, decision)
        if forecast is not None and forecast.apply and forecast.recommended:
            # the experiment's own parameters win over the recommendation
            configuration = Configuration(configuration.name, {**forecast.recommended, **configuration.params})
        sources = self.retrievers.retrieve(context, configuration)
        request = AnswerRequest(
            question=context.question,
            sources=sources,
            room_id=context.room_id,
            asker=context.asker,
            agent=agent.name,
            agent_brief=agent.brief,
            configuration=configuration.name,
            instructions=agent.instructions,
            temperature=engine.config.llm.temperature,
        )

        def on_delta(text: str) -> None:
            engine.bus.publish(AnswerDelta(context.room_id or "", context.message_id, text))

        collaborative = decision.collaborative and self.collaborate is not None
        # a collaboration's answer depends on the agents chosen, so it is neither read from nor put in the cache
        cache = None if collaborative else self.cache
        cached = cache.get(context, sources, configuration) if cache is not None else None
        if cached is not None:
            result = cached
        else:
            if collaborative:
                assert self.collaborate is not None
                result = await self.collaborate(self, request, context, configuration, decision, on_delta)
            else:
                result = await self.loop_runner(self, request, context, configuration, on_delta)
            if cache is not None:
                cache.put(context, sources, configuration, result)
        text, sections, verdict, provider_name, loop_steps = (
            result.text, result.sections, result.verdict, result.provider, list(result.loop_steps)
        )
        if result.sources is not None:
            sources = result.sources
        if cached is not None:
            loop_steps.append({"step": "cache", "hit": True})
        if forecast is not None:
            loop_steps.insert(0, {"step": "predict", "quality": forecast.quality, "reason": forecast.reason})
        details: dict[str, Any] = {"routing": decision.as_dict()}
        if forecast is not None:
            details["prediction"] = forecast.as_dict()
        details.update(result.details)
        markdown = text if text else render_sections(sections)
        latency_ms = (engine.clock.perf() - started) * 1000.0
        answer = Answer(
            sections={
                **{name: sections.get(name, "") for name in ("PLAN", "ANSWER", "VERIFY", "TL;DR")},
                **{name: body for name, body in sections.items() if name not in ("PLAN", "ANSWER", "VERIFY", "TL;DR")},
            },
            markdown=markdown,
            agent=agent.name,
            provider=provider_name,
            configuration=configuration.name,
            verdict=verdict,
            latency_ms=latency_ms,
            sources=sources,
            grounded=bool(sources),
            loop_steps=loop_steps,
            details=details,
        )
        # The interaction row and the observers' rows commit without waiting for the disk: the reply's own
        # synchronous commit follows at once and makes them durable; a crash before it leaves the question
        # pending, to be answered again. One fsync less per answer (5-10 ms on this disk).
        with engine.store.relaxed_sync():
            answer.interaction_id = engine.interactions.record(
                answer,
                query=context.question,
                message_id=context.message_id,
                room_id=context.room_id,
                asker=context.asker,
                ts=engine.clock.now(),
            )
            engine.stats.add_answer(answer.quality, answer.latency_ms)
            for observer in self.observers:
                try:
                    observer(answer, context)
                except Exception as exc:
                    engine.report_error("answer observer", str(exc))
        engine.bus.publish(AnswerReady(context.room_id or "", answer, context.message_id))
        return answer

    async def decide(self, context: AnswerContext) -> RoutingDecision:
        """The router's decision for this question, awaited when the router must wait, with every agent known."""
        routed = self.route(context, self.agents)
        if inspect.isawaitable(routed):  # a router may need to wait (e.g. for its model to load off the loop)
            routed = await routed
        return checked_decision(routed, self.agents)

    def forecast(self, context: AnswerContext, decision: RoutingDecision) -> QualityForecast | None:
        """The quality predictor's forecast, or None when none is installed or it failed (reported)."""
        if self.quality_predictor is None:
            return None
        try:
            return self.quality_predictor.predict(context, decision)
        except Exception as exc:  # a broken predictor must not cost the answer
            self.engine.report_error("quality predictor", str(exc))
            return None

