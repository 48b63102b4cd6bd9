"""The answer path: choose a configuration, route to an agent, retrieve context, generate, judge, record.

Each stage is a replaceable part held by `AnswerPath`, so later capabilities (hybrid retrieval,
experiments, the loop DSL, multi-agent routing, quality prediction) plug in without touching
the pipeline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hololoom_core.events import AnswerDelta, AnswerReady, AnswerStarted
from hololoom_core.llm.base import AnswerRequest, LanguageProvider
from hololoom_core.llm.runbooks import RunbookLibrary
from hololoom_core.memory.text import term_set
from hololoom_core.models import Answer, Source, Verdict
from hololoom_core.promptly.judge import HeuristicJudge, Judge
from hololoom_core.promptly.ultraprompt import missing_sections, parse_sections, render_sections
from hololoom_core.store.messages import MessageStore

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


@dataclass(slots=True)
class Agent:
    """An answering persona: a name, what it is for, and extra instructions for language models."""

    name: str
    brief: str
    instructions: str = ""


@dataclass(slots=True)
class Configuration:
    """The settings one answer is produced with (an experiment variant, or the default)."""

    name: str = "default"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AnswerContext:
    """Where a question came from."""

    question: str
    room_id: str | None = None
    asker: str | None = None
    message_id: int | None = None
    thread_id: str | None = None


class Retriever(Protocol):
    """Finds context for a question: runbooks and earlier messages."""

    def retrieve(self, context: AnswerContext, configuration: Configuration) -> list[Source]:
        """Return sources, best first."""
        ...


class KeywordRetriever:
    """Runbooks by BM25 + keywords, earlier messages by SQLite FTS5 BM25 filtered by term overlap."""

    def __init__(
        self,
        runbooks: RunbookLibrary,
        messages: MessageStore,
        max_runbooks: int = 2,
        max_messages: int = 5,
        min_overlap: float = 0.3,
    ) -> None:
        self.runbooks = runbooks
        self.messages = messages
        self.max_runbooks = max_runbooks
        self.max_messages = max_messages
        self.min_overlap = min_overlap

    def retrieve(self, context: AnswerContext, configuration: Configuration) -> list[Source]:
        """Runbook sources first, then message sources; `max_runbooks`/`max_sources`/`min_overlap` params override."""
        params = configuration.params
        return self.runbook_sources(context.question, params.get("max_runbooks")) + self.message_sources(
            context, params.get("max_sources"), params.get("min_overlap")
        )

    def runbook_sources(self, question: str, limit: int | None = None) -> list[Source]:
        """The runbooks matching the question, as sources."""
        limit = self.max_runbooks if limit is None else limit
        if limit == 0:
            return []
        matches = self.runbooks.search(question, limit=limit)
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

    def message_sources(
        self, context: AnswerContext, limit: int | None = None, min_overlap: float | None = None
    ) -> list[Source]:
        """Earlier messages sharing enough content terms with the question, as sources."""
        max_messages = self.max_messages if limit is None else limit
        min_overlap = self.min_overlap if min_overlap is None else min_overlap
        if max_messages == 0:
            return []
        question_terms = term_set(context.question)
        if not question_terms:
            return []
        exclude = (context.message_id,) if context.message_id is not None else ()
        hits = self.messages.search(context.question, limit=max_messages * 4, exclude_ids=exclude)
        sources: list[Source] = []
        seen_bodies: set[str] = set()
        for hit in hits:
            shared = question_terms & term_set(hit.message.body)
            overlap = len(shared) / len(question_terms)
            if len(shared) < min(2, len(question_terms)) or overlap < min_overlap:
                continue
            normalised = " ".join(hit.message.body.lower().split())
            if normalised in seen_bodies:
                continue
            seen_bodies.add(normalised)
            sources.append(
                Source(
                    kind="message",
                    ref=hit.message.event_id,
                    title=f"message {hit.message.id}",
                    excerpt=hit.message.body,
                    score=round(overlap, 4),
                    ts=hit.message.ts,
                    room_id=hit.message.room_id,
                    author=hit.message.author,
                    message_id=hit.message.id,
                )
            )
            if len(sources) >= max_messages:
                break
        return sources


@dataclass(slots=True)
class LoopResult:
    """What a loop produced: the answer text and sections, its verdict, the provider and each step taken."""

    text: str
    sections: dict[str, str]
    verdict: Verdict
    provider: str
    loop_steps: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False
    sources: list[Source] | None = None  # set when the loop retrieved again (e.g. refine with more context)


class AnswerCache(Protocol):
    """Remembers loop results by question and retrieved context."""

    def get(self, context: AnswerContext, sources: list[Source], configuration: Configuration) -> LoopResult | None:
        """A still-valid cached result, or None."""
        ...

    def put(
        self, context: AnswerContext, sources: list[Source], configuration: Configuration, result: LoopResult
    ) -> None:
        """Remember a result."""
        ...


LoopRunner = Callable[
    ["AnswerPath", AnswerRequest, AnswerContext, Configuration, Callable[[str], None]], Awaitable[LoopResult]
]


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


ConfigurationChooser = Callable[[AnswerContext], Configuration]
Router = Callable[[AnswerContext, dict[str, Agent]], str]
AnswerObserver = Callable[[Answer, AnswerContext], None]


def default_router(context: AnswerContext, agents: dict[str, Agent]) -> str:
    """Send every question to the first registered agent."""
    return next(iter(agents))


class AnswerPath:
    """Runs one question through configuration, routing, retrieval, generation, judging and recording."""

    def __init__(self, engine: Engine, provider: LanguageProvider, fallback: LanguageProvider) -> None:
        self.engine = engine
        self.provider = provider
        self.fallback = fallback
        self.agents: dict[str, Agent] = {
            "generalist": Agent("generalist", "operations generalist: incidents, deploys, infrastructure"),
        }
        self.retriever: Retriever = KeywordRetriever(
            engine.runbooks,
            engine.messages,
            max_runbooks=engine.config.answer.max_runbooks,
            max_messages=engine.config.answer.max_sources,
        )
        self.judge: Judge = HeuristicJudge()
        self.choose_configuration: ConfigurationChooser = lambda context: Configuration()
        self.route: Router = default_router
        self.observers: list[AnswerObserver] = []
        self.loop_runner: LoopRunner = generate_then_judge
        self.cache: AnswerCache | None = None

    async def answer(self, context: AnswerContext) -> Answer:
        """Answer one question and record the interaction; the answer carries its interaction id."""
        engine = self.engine
        started = engine.clock.perf()
        engine.bus.publish(AnswerStarted(context.room_id or "", context.question, context.message_id))
        configuration = self.choose_configuration(context)
        agent = self.agents.get(self.route(context, self.agents)) or next(iter(self.agents.values()))
        sources = self.retriever.retrieve(context, configuration)
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

        cached = self.cache.get(context, sources, configuration) if self.cache is not None else None
        if cached is not None:
            result = cached
        else:
            result = await self.loop_runner(self, request, context, configuration, on_delta)
            if self.cache is not None:
                self.cache.put(context, sources, configuration, result)
        text, sections, verdict, provider_name, loop_steps = (
            result.text, result.sections, result.verdict, result.provider, list(result.loop_steps)
        )
        if result.sources is not None:
            sources = result.sources
        if cached is not None:
            loop_steps.append({"step": "cache", "hit": True})
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
        )
        with _durable_with_the_reply(engine.store):
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


@contextmanager
def _durable_with_the_reply(store: Any) -> Iterator[None]:
    """Commit the answer's bookkeeping (the interaction row, observers' feedback rows) without waiting for the
    disk (WAL, `synchronous=NORMAL`); no await may run inside.

    The reply's own fully synchronous commit (`deliver_replies`, which also clears the pending action) follows
    at once and makes these rows durable with it, since the WAL is written in order; a crash before it leaves
    the question pending, to be answered again. One fsync less per answer (5-10 ms on this disk).
    """
    relax = store.synchronous == "FULL" and not store.conn.in_transaction
    if relax:
        store.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        if relax:
            store.execute("PRAGMA synchronous=FULL")
