"""The engine and its one message pipeline: keep, notice, act, answer, learn, tell.

Every transport (the simulated room, Matrix, the CLI) hands `ChatMessage`s to `Engine.handle()`.
Capabilities plug into registries the engine holds: keepers (indexing, graph), detectors
(insights), commands, answer-path parts and feedback observers.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hololoom_core.bus import EventBus
from hololoom_core.clock import Clock
from hololoom_core.config import Config
from hololoom_core.engine.access import AccessPolicy
from hololoom_core.engine.answering import AnswerContext, AnswerPath
from hololoom_core.engine.commands import CommandContext, CommandError, CommandRegistry, CommandResult
from hololoom_core.engine.stats import EngineStats
from hololoom_core.events import (
    CommandHandled,
    EngineError,
    FeedbackRecorded,
    InsightDetected,
    MessageStored,
    ReplySent,
    StatsChanged,
    StatusChanged,
)
from hololoom_core.llm.base import LanguageProvider
from hololoom_core.llm.factory import build_provider
from hololoom_core.llm.offline import OfflineAnswerEngine
from hololoom_core.llm.runbooks import RunbookLibrary
from hololoom_core.models import Answer, Attachment, ChatMessage, HandleResult, Insight, Reply, StoredMessage
from hololoom_core.redact import redact_secrets
from hololoom_core.store import Store
from hololoom_core.store import schema as _core_schema  # noqa: F401  (registers the core migrations)
from hololoom_core.store.interactions import InteractionStore
from hololoom_core.store.messages import MessageStore

log = logging.getLogger(__name__)

# Modules with an `install(engine)` function, run in order when an engine is built.
CAPABILITIES: list[str] = [
    "hololoom_core.engine.builtin_commands",
    "hololoom_core.promptly.capability",
    "hololoom_core.ops.incidents",
    "hololoom_core.ops.answer_cache",
    "hololoom_core.ops.dashboard",
    "hololoom_core.ops.review.commands",
    "hololoom_core.ops.workflows.commands",
    "hololoom_core.transport.matrix.state",
    "hololoom_core.memory.capability",
    "hololoom_core.ops.commands",  # keep last: loads plugins and aliases after every other capability
]


class Detector(Protocol):
    """Notices something in a stored message (decision, action item, question, incident signal)."""

    def detect(self, message: StoredMessage) -> list[Insight]:
        """Return the insights found in one message."""
        ...


class MessageAnalysis(Protocol):
    """Analyses stored messages in batches (memory's analysis); `notice` is its one-message form."""

    def notice(self, stored: StoredMessage) -> list[Insight]:
        """Analyse a stored message (after any backlog) exactly once; return its insights."""
        ...

    def analyse_batch(self, stored_messages: list[StoredMessage]) -> list[Insight]:
        """Analyse a batch just stored (after any backlog) exactly once; return every insight found."""
        ...


Keeper = Callable[[StoredMessage, ChatMessage], None]
Suggester = Callable[[StoredMessage, list[Insight]], "Reply | None"]
FeedbackObserver = Callable[[int, int, str], None]
InsightStore = Callable[[list[Insight]], list[Insight]]


@dataclass(slots=True)
class KeptMessage:
    """A message after the keep step: the stored row and the original (unredacted) text."""

    stored: StoredMessage
    original_body: str
    action: str | None
    attachments: list[Attachment] = field(default_factory=list)


class Engine:
    """The HoloLoom engine: owns the store, the bus and the registries, and runs the pipeline."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        bus: EventBus | None = None,
        provider: LanguageProvider | None = None,
        clock: Clock | None = None,
        runbooks: RunbookLibrary | None = None,
        capabilities: list[str] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.bus = bus or EventBus()
        self.store = store or Store(config.database_path, synchronous=config.store.synchronous)
        for module in capabilities if capabilities is not None else CAPABILITIES:
            importlib.import_module(module)  # importing registers a capability's migrations
        self.store.migrate()
        self.messages = MessageStore(self.store)
        self.interactions = InteractionStore(self.store)
        self.runbooks = runbooks or RunbookLibrary.from_directory()
        self.offline = OfflineAnswerEngine(self.runbooks)
        self.provider: LanguageProvider = provider or build_provider(config, self.offline)
        self.commands = CommandRegistry()
        self.access = AccessPolicy(config.acl, config.matrix.admins)
        self.keepers: list[Keeper] = []
        self.detectors: list[Detector] = []
        self.insight_store: InsightStore = self._store_insights
        self.analysis: MessageAnalysis | None = None  # set by the memory capability; runs the notice step
        self.suggesters: list[Suggester] = []
        self.feedback_observers: list[FeedbackObserver] = []
        self.status: dict[str, dict[str, Any]] = {}
        self.answer_path = AnswerPath(self, self.provider, self.offline)
        self.stats = EngineStats()
        self.bot_id = config.matrix.user_id or config.hololoom.bot_name
        self.bot_name = config.hololoom.bot_name
        self._mention = re.compile(
            r"(?:^|(?<=\s))@?" + re.escape(self.bot_name) + r"(?::[\w.-]+)?(?=$|[\s,:;!?.])", re.I
        )
        self.extensions: dict[str, Any] = {}
        self.startup_hooks: list[Callable[[], Awaitable[None]]] = []  # run by start(), in order
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []  # run by close(), before the store closes
        self.warmup_hooks: list[Callable[[], None]] = []  # start background work in long-running processes
        provider_close = getattr(self.provider, "close", None)
        if provider_close is not None and inspect.iscoroutinefunction(provider_close):
            self.shutdown_hooks.append(provider_close)  # e.g. the Ollama client's HTTP connections
        for module in capabilities if capabilities is not None else CAPABILITIES:
            installer = getattr(importlib.import_module(module), "install", None)
            if installer is not None:
                installer(self)
        totals = self.interactions.totals()
        self.stats.seed(
            self.messages.count(),
            totals["answers"],
            totals["mean_quality"],
            self.interactions.recent_latencies(),
        )

    # -- life cycle --------------------------------------------------------------------------

    async def start(self, *, long_running: bool = False) -> None:
        """Check the language provider, run the startup hooks, and publish the starting state.

        `long_running` (the app, the bot) also starts background warm-up work such as loading the
        embedding model, so the first answer does not pay for it; one-shot CLI commands skip it.
        """
        status = await self.provider.status()
        self.set_status("llm", "ok" if status.available else "down", status.detail)
        for hook in self.startup_hooks:
            await hook()
        if long_running:
            for warm_up in self.warmup_hooks:
                warm_up()
        self.publish_stats()

    async def close(self) -> None:
        """Run the shutdown hooks, then close the store."""
        for hook in self.shutdown_hooks:
            try:
                await hook()
            except Exception as exc:  # closing must finish even when a capability fails to stop cleanly
                self.report_error("shutdown", f"{getattr(hook, '__qualname__', hook)}: {exc}")
        self.store.close()

    # -- the pipeline ------------------------------------------------------------------------

    async def handle(self, message: ChatMessage) -> HandleResult:
        """Run one message through keep, notice, act/answer, learn and tell; returns what was done."""
        kept = self.keep(message)
        if kept is None:
            return HandleResult(message=None, duplicate=True)
        insights = self.notice(kept.stored)
        replies = await self.act(kept, insights)
        self.publish_stats()
        return HandleResult(message=kept.stored, insights=insights, replies=replies)

    def keep(self, message: ChatMessage) -> KeptMessage | None:
        """Redact secrets, store durably (one transaction), index, and run the keepers (graph, embeddings)."""
        attachment_texts = [f"[{a.name}]\n{a.text}" for a in message.attachments if a.text]
        redaction = redact_secrets("\n\n".join([message.body, *attachment_texts]) if attachment_texts else message.body)
        meta: dict[str, Any] = {}
        if redaction.kinds:
            meta["redacted_secrets"] = list(redaction.kinds)
        if message.attachments:
            meta["attachments"] = [
                {"name": a.name, "mimetype": a.mimetype, "size": a.size, "url": a.url, **a.meta}
                for a in message.attachments
            ]
        action = self.classify(message)
        if action == "question":
            meta["addressed_to_bot"] = True  # detectors leave such questions to the bot's own answer
        is_bot = message.sender == self.bot_id
        with self.store.transaction() as conn:
            stored = self.messages.insert(message, redaction.text, is_bot=is_bot, meta=meta)
            if stored is None:
                return None
            if action is not None and not is_bot:
                conn.execute(
                    "INSERT OR IGNORE INTO pending_actions(message_id, action, created_ts) VALUES (?, ?, ?)",
                    (stored.id, action, self.clock.now()),
                )
            for keeper in self.keepers:
                keeper(stored, message)
        stored.sender_name = message.sender_name
        self.stats.messages += 1
        self.bus.publish(MessageStored(stored))
        return KeptMessage(stored, message.body, action if not is_bot else None, list(message.attachments))

    def classify(self, message: ChatMessage) -> str | None:
        """`command`, `question` (addressed to the bot) or None for ordinary conversation."""
        if message.sender == self.bot_id:
            return None
        if CommandRegistry.parse(message.body, self.config.matrix.command_prefix) is not None:
            return "command"
        if self.is_addressed(message):
            return "question"
        return None

    def is_addressed(self, message: ChatMessage) -> bool:
        """True for direct messages, explicit mentions and messages that name the bot."""
        return message.is_direct or message.mentions_bot or self.names_bot(message.body)

    def names_bot(self, text: str) -> bool:
        """True when the text mentions the bot by name (`@hololoom`, `hololoom:` ...)."""
        return bool(self._mention.search(text))

    def strip_mention(self, text: str) -> str:
        """The question without the bot's name or mention."""
        return self._mention.sub(" ", text).strip(" ,:;\t\n") or text.strip()

    def notice(self, stored: StoredMessage) -> list[Insight]:
        """Run every detector; store and publish what they find (through `analysis` when one is installed)."""
        if self.analysis is not None:
            return self.analysis.notice(stored)
        if stored.is_bot or not self.detectors:
            return []
        found: list[Insight] = []
        for detector in self.detectors:
            try:
                found.extend(detector.detect(stored))
            except Exception as exc:
                self.report_error("detector", f"{type(detector).__name__}: {exc}")
        if not found:
            return []
        insights = self.insight_store(found)
        self.stats.insights += len(insights)
        for insight in insights:
            self.bus.publish(InsightDetected(insight))
        return insights

    def _store_insights(self, insights: list[Insight]) -> list[Insight]:
        with self.store.transaction() as conn:
            for insight in insights:
                cursor = conn.execute(
                    "INSERT INTO insights(kind, message_id, room_id, text, confidence, data, ts) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        insight.kind,
                        insight.message_id,
                        insight.room_id,
                        insight.text,
                        insight.confidence,
                        json.dumps(insight.data),
                        insight.ts,
                    ),
                )
                insight.id = cursor.lastrowid
        return insights

    async def act(self, kept: KeptMessage, insights: list[Insight]) -> list[Reply]:
        """Dispatch a command, answer a question, or offer a proactive suggestion."""
        stored = kept.stored
        replies: list[Reply] = []
        try:
            if kept.action == "command":
                replies.append(await self.run_command(kept))
            elif kept.action == "question":
                answer = await self.answer_path.answer(
                    AnswerContext(
                        question=self.strip_mention(kept.original_body),
                        room_id=stored.room_id,
                        asker=stored.sender,
                        message_id=stored.id,
                        thread_id=stored.thread_id,
                    )
                )
                replies.append(
                    Reply(
                        room_id=stored.room_id,
                        body=answer.markdown,
                        kind="answer",
                        thread_id=stored.thread_id or stored.event_id,
                        in_reply_to=stored.event_id,
                        answer=answer,
                    )
                )
            else:
                for suggester in self.suggesters:
                    try:
                        suggestion = suggester(stored, insights)
                    except Exception as exc:  # a suggester's bug must not turn chatter into an error reply
                        self.report_error("suggester", f"{getattr(suggester, '__qualname__', suggester)}: {exc}")
                        continue
                    if suggestion is not None:
                        replies.append(suggestion)
        except Exception as exc:  # one bad message must never stop the engine
            log.exception("act failed on message %s", stored.id)
            self.report_error("pipeline", f"message {stored.id}: {exc}")
            replies = [
                Reply(
                    room_id=stored.room_id,
                    body=f"Sorry, that failed inside HoloLoom ({type(exc).__name__}: {exc}). It is logged; "
                    "the message itself is stored.",
                    kind="error",
                    thread_id=stored.thread_id,
                    in_reply_to=stored.event_id,
                )
            ]
        self.deliver_replies(stored, replies, transport=stored.transport)
        return replies

    async def run_command(self, kept: KeptMessage) -> Reply:
        """Parse, check access, and run a command; usage errors and refusals become one polite line."""
        stored = kept.stored
        prefix = self.config.matrix.command_prefix
        parsed = CommandRegistry.parse(kept.original_body, prefix)
        assert parsed is not None
        spec = self.commands.get(parsed.name)

        def reply(text: str, ok: bool, refused: bool = False, thread_id: str | None = None) -> Reply:
            self.stats.commands += 1
            self.bus.publish(CommandHandled(stored.room_id, parsed.name, stored.sender, ok, refused))
            return Reply(
                room_id=stored.room_id,
                body=text,
                kind="command",
                thread_id=thread_id or stored.thread_id,
                in_reply_to=stored.event_id,
            )

        if spec is None:
            suggestions = self.commands.suggest(parsed.name)
            hint = (" Did you mean " + ", ".join(f"`{prefix}{s}`" for s in suggestions) + "?") if suggestions else ""
            return reply(f"Unknown command `{prefix}{parsed.name}`.{hint} Try `{prefix}help`.", ok=False)
        full_name = spec.name + (" " + parsed.argv[0] if parsed.argv else "")
        decision = self.access.check(full_name, stored.sender, stored.room_id, admin_only=spec.admin_only)
        if not decision.allowed:
            return reply(f"Sorry, {decision.reason}.", ok=False, refused=True)
        context = CommandContext(
            self, stored, spec.name, parsed.args, parsed.argv, kept.original_body, attachments=kept.attachments
        )
        try:
            result = await spec.handler(context)
        except CommandError as exc:
            usage = f" Usage: `{prefix}{spec.usage or spec.name}`" if spec.usage or spec.name else ""
            return reply(f"{exc}.{usage}".replace("..", "."), ok=False)
        if isinstance(result, str):
            result = CommandResult(result)
        return reply(result.text, ok=result.ok, refused=bool(result.data.get("refused")), thread_id=result.thread_id)

    def deliver_replies(self, stored: StoredMessage, replies: list[Reply], transport: str) -> None:
        """Store the bot's replies and clear the pending action, in one transaction; then publish them."""
        delivery = "sent" if transport in ("local", "cli") else "pending"
        saved_messages: list[StoredMessage | None] = []
        with self.store.transaction() as conn:
            for reply in replies:
                bot_message = ChatMessage(
                    room_id=reply.room_id,
                    sender=self.bot_id,
                    body=reply.body,
                    transport=transport,
                    event_id=reply.event_id,
                    ts=self.clock.now(),
                    thread_id=reply.thread_id,
                    reply_to=reply.in_reply_to,
                    sender_name=self.config.matrix.display_name if transport == "matrix" else self.bot_name,
                )
                meta: dict[str, Any] = {"reply_kind": reply.kind}
                if reply.answer is not None:
                    meta.update(
                        agent=reply.answer.agent,
                        quality=reply.answer.quality,
                        latency_ms=reply.answer.latency_ms,
                        provider=reply.answer.provider,
                        interaction_id=reply.answer.interaction_id,
                        configuration=reply.answer.configuration,
                        judge=reply.answer.verdict.as_dict(),
                        loop_steps=reply.answer.loop_steps,
                        question_message_id=stored.id,
                    )
                saved = self.messages.insert(bot_message, reply.body, is_bot=True, kind=reply.kind, meta=meta)
                saved_messages.append(saved)
                if saved is None:
                    continue
                conn.execute("UPDATE messages SET delivery = ? WHERE id = ?", (delivery, saved.id))
                reply.message_id = saved.id
                if reply.answer is not None and reply.answer.interaction_id is not None:
                    self.interactions.set_reply_message(reply.answer.interaction_id, saved.id)
            conn.execute("DELETE FROM pending_actions WHERE message_id = ?", (stored.id,))
        for reply, saved in zip(replies, saved_messages, strict=True):
            if saved is not None:
                self.stats.messages += 1
                self.bus.publish(MessageStored(saved))
                self.bus.publish(ReplySent(reply))

    def pending_actions(self) -> list[tuple[StoredMessage, str]]:
        """Stored messages whose command or answer never completed (for resuming after a crash)."""
        rows = self.store.query("SELECT message_id, action FROM pending_actions ORDER BY message_id")
        result = []
        for row in rows:
            message = self.messages.get(row["message_id"])
            if message is not None:
                result.append((message, row["action"]))
        return result

    async def resume(self, message: StoredMessage, action: str, original_body: str | None = None) -> list[Reply]:
        """Finish the command or answer of a message that was stored before a crash."""
        kept = KeptMessage(message, original_body or message.body, action)
        return await self.act(kept, [])

    # -- direct entry points -----------------------------------------------------------------

    async def ask(self, question: str, *, room_id: str | None = None, asker: str | None = None) -> Answer:
        """One pass through the answer path without storing a chat message (the CLI's `ask`)."""
        answer = await self.answer_path.answer(AnswerContext(question=question, room_id=room_id, asker=asker))
        self.publish_stats()
        return answer

    def record_feedback(self, interaction_id: int, user_id: str, value: int, source: str, ref: str = "") -> bool:
        """Record a 👍 (+1) or 👎 (-1) on an interaction once, tell observers and the bus."""
        if value not in (-1, 1):
            raise ValueError("feedback value must be +1 or -1")
        if not self.interactions.add_feedback(interaction_id, user_id, value, source, ref):
            return False
        for observer in self.feedback_observers:
            try:
                observer(interaction_id, value, source)
            except Exception as exc:
                self.report_error("feedback observer", str(exc))
        self.bus.publish(FeedbackRecorded(interaction_id, value, source))
        return True

    # -- telling -----------------------------------------------------------------------------

    def publish_stats(self) -> None:
        """Publish the live counters."""
        self.bus.publish(StatsChanged(self.stats.as_dict()))

    def set_status(self, part: str, state: str, detail: str = "", **extra: Any) -> None:
        """Record and publish a part's status (e.g. `matrix` `connected`)."""
        self.status[part] = {"state": state, "detail": detail, **extra}
        self.bus.publish(StatusChanged(part, state, detail, dict(extra)))

    def report_error(self, where: str, error: str) -> None:
        """Log an error and publish it for the operator; the engine carries on."""
        log.warning("%s: %s", where, error)
        self.bus.publish(EngineError(where, error))
