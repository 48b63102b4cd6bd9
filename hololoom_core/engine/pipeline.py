"""The engine and its one message pipeline: keep, notice, act, answer, learn, tell.

Every transport, bulk ingest and scenario replay goes through the same two steps:
`Engine.keep_batch(messages)` (redact, store, index, run the keepers, in one durable transaction) and
`Engine.respond(kept)` (notice, act, deliver). `Engine.handle()` is both steps for one message. A
transport that keeps a batch analyses it once with `Engine.notice_batch(kept)` before responding;
the analysis itself is a slot (`engine.analysis`, see engine/analysis.py) that memory fills.
Replies leave through the one delivery path, `Engine.deliver()`: stored first (clearing the question's
pending action in the same transaction), then handed to the room's `Transport`. Capabilities plug into
registries the engine holds: keepers (in the keep transaction), detectors (insights), commands, answer-path
parts and feedback observers.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hololoom_core.bus import EventBus
from hololoom_core.clock import Clock
from hololoom_core.config import Config
from hololoom_core.engine.access import AccessPolicy
from hololoom_core.engine.analysis import Detector, DetectorAnalysis, MessageAnalysis
from hololoom_core.engine.answering import AnswerContext, AnswerPath
from hololoom_core.engine.capabilities import (
    Capability,
    MigrationSlot,
    OverviewPanel,
    ServiceRegistry,
    T,
    default_capabilities,
    load_capability,
    resolve_order,
)
from hololoom_core.engine.commands import CommandRegistry, RawInput, run_command
from hololoom_core.engine.delivery import (
    BackgroundDeliveries,
    StoredOnlyTransport,
    Transport,
    reply_row,
)
from hololoom_core.engine.stats import EngineStats
from hololoom_core.events import (
    EngineError,
    FeedbackRecorded,
    MessageStored,
    ReplySent,
    StatsChanged,
    StatusChanged,
)
from hololoom_core.llm.base import LanguageProvider
from hololoom_core.llm.factory import build_provider
from hololoom_core.llm.offline import OfflineAnswerEngine
from hololoom_core.llm.runbooks import RunbookLibrary, package_runbooks
from hololoom_core.models import Answer, Attachment, ChatMessage, HandleResult, Insight, Reply, StoredMessage
from hololoom_core.redact import redact_secrets
from hololoom_core.rooms import RoomScope
from hololoom_core.store import Store
from hololoom_core.store import schema as _core_schema  # noqa: F401  (registers the core migrations)
from hololoom_core.store.db import registered_migrations
from hololoom_core.store.interactions import InteractionStore
from hololoom_core.store.messages import MessageStore, NewMessage
from hololoom_core.store.pending import PendingActions
from hololoom_core.text.clean import clean_optional, clean_text

if TYPE_CHECKING:
    from typing_extensions import TypeForm

log = logging.getLogger(__name__)

Keeper = Callable[[StoredMessage, ChatMessage], None]
Suggester = Callable[[StoredMessage, list[Insight]], "Reply | None"]
FeedbackObserver = Callable[[int, int, str], None]


# A chat message longer than this (in characters) is stored whole but not acted on or analysed: its
# sender gets one reply saying so (Matrix itself caps events at 64 KiB).
MAX_MESSAGE_CHARS = 64 * 1024
# What analysis (the keepers' entities and graph, the detectors) reads of a message: its first part.
ANALYSIS_CHARS = 16 * 1024


@dataclass(slots=True)
class KeptMessage:
    """A message after the keep step: the stored row and the message's own text, both redacted.

    Everything downstream (commands, questions, keepers, incidents, workflows) sees only redacted text;
    `raw` keeps the text as sent for the one consumer that must read it (code review, which masks what
    it reports), and is never stored.
    """

    stored: StoredMessage
    original_body: str  # the message's own text (without attachment texts), redacted
    action: str | None
    attachments: list[Attachment] = field(default_factory=list)  # with redacted texts
    message: ChatMessage | None = None  # as kept (redacted; None when resumed from the store)
    insights: list[Insight] | None = None  # set by the notice step (None: not analysed yet)
    raw: RawInput | None = field(default=None, repr=False)
    too_long: bool = False


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
        capabilities: Sequence[Capability | str] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.bus = bus or EventBus()
        self.store = store or Store(config.database_path, synchronous=config.store.synchronous)
        chosen = default_capabilities() if capabilities is None else resolve_order(
            load_capability(spec) for spec in capabilities
        )
        self.capabilities: tuple[Capability, ...] = tuple(chosen)
        self.migrations = MigrationSlot()  # every table, collected before the store migrates
        self.migrations.add("core", registered_migrations("core"))
        for capability in self.capabilities:  # collect every table first, plugins' included ...
            capability.prepare(self)  # (prepare sees only config, clock, bus, store and migrations)
        self.store.apply_migrations(self.migrations.components())
        self.messages = MessageStore(self.store)
        self.interactions = InteractionStore(self.store)
        self._base_runbooks = runbooks or RunbookLibrary.from_directory()
        self.runbooks = RunbookLibrary.copy_of(self._base_runbooks)  # its own: packages change it
        self.reload_runbooks()
        self.offline = OfflineAnswerEngine(self.runbooks)
        self.provider: LanguageProvider = provider or build_provider(config, self.offline)
        self.access = AccessPolicy(config.acl, config.bot.admins)
        self.bus.hold_until_commit(self.store.after_commit)  # events are heard only once their data is committed
        self.pending = PendingActions(self.store)
        self.transports: dict[str, Transport] = {
            name: StoredOnlyTransport(name, display_name=config.bot.name) for name in ("local", "cli", "import")
        }
        self._responding: set[int] = set()  # messages whose action is being worked on (one at a time)
        self.background = BackgroundDeliveries(lambda error: self.report_error("delivery", error))
        self.status: dict[str, dict[str, Any]] = {}
        self.stats = EngineStats()
        self.bot_id = config.matrix.user_id or config.bot.name
        self.bot_name = config.bot.name
        self._mention = re.compile(
            r"(?:^|(?<=\s))@?" + re.escape(self.bot_name) + r"(?::[\w.-]+)?(?=$|[\s,:;!?.])", re.I
        )
        # -- the typed slots capabilities fill (see engine/capabilities.py) --
        self.services = ServiceRegistry()  # services by type: engine.capability(MemoryService)
        self.commands = CommandRegistry()
        self.keepers: list[Keeper] = []
        self.detectors: list[Detector] = []
        self.analysis: MessageAnalysis = DetectorAnalysis(self)  # the notice step; memory fills it with its own
        self.suggesters: list[Suggester] = []
        self.feedback_observers: list[FeedbackObserver] = []
        self.overview_panels: dict[str, OverviewPanel] = {}  # name -> figures for overview.extra[name]
        self.startup_hooks: list[Callable[[], Awaitable[object]]] = []  # run by start(), in order (results ignored)
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []  # run by close(), before the store closes
        self.warmup_hooks: list[Callable[[], None]] = []  # start background work in long-running processes
        self.answer_path = AnswerPath(self, self.provider, self.offline)  # retriever chain, judge, loop, router ...
        provider_close = getattr(self.provider, "close", None)
        if provider_close is not None and inspect.iscoroutinefunction(provider_close):
            self.shutdown_hooks.append(provider_close)  # e.g. the Ollama client's HTTP connections
        for capability in self.capabilities:  # ... so installers may read and write every table
            capability.install(self)
        totals = self.interactions.totals()
        self.stats.seed(
            self.messages.count(),
            totals["answers"],
            totals["mean_quality"],
            self.interactions.recent_latencies(),
        )

    # -- capabilities ------------------------------------------------------------------------

    def reload_runbooks(self) -> list[str]:
        """The base runbooks plus every installed package's (after an install, update or removal).

        Returns one line per package runbook file that could not be used (also reported as engine errors).
        """
        base = list(self._base_runbooks.runbooks.values())
        extra, problems = package_runbooks(self.config.data_dir, set(self._base_runbooks.runbooks))
        if extra or len(self.runbooks) != len(base):
            self.runbooks.replace([*base, *extra])
        for problem in problems:
            self.report_error("runbooks", problem)
        return problems

    def capability(self, kind: TypeForm[T]) -> T:
        """The service a capability provides under `kind` (e.g. `MemoryService`); `CapabilityMissing` if none."""
        return self.services.get(kind)

    def find_capability(self, kind: TypeForm[T]) -> T | None:
        """The service provided under `kind`, or None when no installed capability provides it."""
        return self.services.find(kind)

    def provide(self, service: Any, as_type: TypeForm[Any] | None = None) -> None:
        """Offer a service to the other capabilities, under its class or `as_type` (a class or Protocol)."""
        self.services.provide(service, as_type)

    def installed(self, name: str) -> bool:
        """True when a capability of that name is installed."""
        return any(capability.name == name for capability in self.capabilities)

    # -- life cycle --------------------------------------------------------------------------

    async def start(self, *, long_running: bool = False) -> None:
        """Check the language provider, run the startup hooks, resume unfinished local work, publish the state.

        `long_running` (the app, the bot) also starts background warm-up work such as loading the
        embedding model, so the first answer does not pay for it; one-shot CLI commands skip it.
        Commands and questions stored before a crash but never answered are finished now for the
        transports already attached (the local room, the CLI); a transport attached later resumes its own
        with `resume_pending(name)`.
        """
        status = await self.provider.status()
        self.set_status("llm", "ok" if status.available else "down", status.detail)
        for hook in self.startup_hooks:
            await hook()
        if long_running:
            for warm_up in self.warmup_hooks:
                warm_up()
        for name in list(self.transports):
            await self.resume_pending(name)
        self.publish_stats()

    async def close(self) -> None:
        """Finish background deliveries, run the shutdown hooks, then close the store."""
        await self.background.wait(5.0)
        self.background.cancel()
        for hook in self.shutdown_hooks:
            try:
                await hook()
            except Exception as exc:  # closing must finish even when a capability fails to stop cleanly
                self.report_error("shutdown", f"{getattr(hook, '__qualname__', hook)}: {exc}")
        self.store.close()

    # -- transports ----------------------------------------------------------------------------

    def attach_transport(self, transport: Transport) -> None:
        """Let `transport` deliver the replies for its rooms (replaces an earlier one of the same name)."""
        self.transports[transport.name] = transport

    def detach_transport(self, transport: Transport) -> None:
        """Stop delivering through `transport`; its replies wait as `pending` until it is attached again."""
        if self.transports.get(transport.name) is transport:
            del self.transports[transport.name]

    def transport_for(self, name: str) -> Transport:
        """The attached transport of that name, or a detached one (replies wait for it as `pending`)."""
        return self.transports.get(name) or StoredOnlyTransport(name, reply_state="pending")

    # -- the pipeline ------------------------------------------------------------------------

    async def handle(self, message: ChatMessage) -> HandleResult:
        """Run one message through keep, notice, act/answer, learn and tell; returns what was done."""
        kept = self.keep_batch([message])
        if not kept:
            return HandleResult(message=None, duplicate=True)
        return await self.respond(kept[0])

    def keep_batch(self, messages: Sequence[ChatMessage]) -> list[KeptMessage]:
        """Redact, store and index a batch, note its pending actions and run the keepers, in one transaction.

        Returns the kept messages in order (a message whose event id was stored before is left out). When
        it returns outside an enclosing transaction, everything is committed (durable with
        `store.synchronous: full`) and `MessageStored` has been published for each message. The messages
        are analysed afterwards, by `notice_batch(kept)` (a batch) or `respond` (one message).
        """
        if not messages:
            return []
        prepared = [self._prepare(message) for message in messages]
        kept: list[KeptMessage] = []
        with self.store.transaction():
            stored_rows = self.messages.insert_batch([item.row for item in prepared])
            for item, stored in zip(prepared, stored_rows, strict=True):
                if stored is None:
                    continue
                kept.append(KeptMessage(stored, item.safe.body, item.action, list(item.safe.attachments), item.safe,
                                        raw=item.raw, too_long=item.too_long))
            pending = [(k.stored.id, k.action) for k in kept if k.action is not None]
            if pending:
                self.pending.add_many(pending, self.clock.now())
            self._run_keepers(kept)
            self.bus.publish_many([MessageStored(item.stored) for item in kept])  # heard after the outermost commit
        self.stats.messages += len(kept)
        return kept

    def keep(self, message: ChatMessage) -> KeptMessage | None:
        """`keep_batch` for one message: the kept message, or None when it was stored before."""
        kept = self.keep_batch([message])
        return kept[0] if kept else None

    def _prepare(self, message: ChatMessage) -> _Prepared:
        """The row to store for a message (redacted body, attachment and addressing metadata) and its action.

        This is the boundary: every text field is cleaned (lone surrogates become U+FFFD) and the body and
        attachment texts are redacted here, once; the rest of the pipeline gets only the redacted copy.
        """
        safe, kinds = _redacted_copy(message)
        attachment_texts = [f"[{a.name}]\n{a.text}" for a in safe.attachments if a.text]
        body = "\n\n".join([safe.body, *attachment_texts]) if attachment_texts else safe.body
        meta: dict[str, Any] = {}
        if kinds:
            meta["redacted_secrets"] = list(kinds)
        if safe.attachments:
            meta["attachments"] = [
                {"name": a.name, "mimetype": a.mimetype, "size": a.size, "url": a.url, **a.meta}
                for a in safe.attachments
            ]
        is_bot = safe.sender == self.bot_id
        too_long = len(safe.body) > MAX_MESSAGE_CHARS
        action = self.classify(safe) if not is_bot and not too_long else None
        if action == "question":
            meta["addressed_to_bot"] = True  # detectors leave such questions to the bot's own answer
        if too_long and not is_bot:
            meta["too_long"] = True
        raw = RawInput(clean_text(message.body), _raw_attachments(message, safe)) if action == "command" else None
        row = NewMessage(safe, body, is_bot=is_bot, meta=meta)
        return _Prepared(row, safe, action if safe.actionable else None, raw, too_long and safe.actionable and not is_bot)

    def _run_keepers(self, kept: list[KeptMessage]) -> None:
        for item in kept:
            item.stored.sender_name = item.stored.sender_name or (item.message.sender_name if item.message else None)
            if not self.keepers:
                continue
            stored = _analysed_part(item.stored)
            message = item.message or _as_chat_message(item.stored)
            if len(message.body) > ANALYSIS_CHARS:
                message = dataclasses.replace(message, body=message.body[:ANALYSIS_CHARS])
            for keeper in self.keepers:
                keeper(stored, message)

    def classify(self, message: ChatMessage) -> str | None:
        """`command`, `question` (addressed to the bot) or None for ordinary conversation."""
        if message.sender == self.bot_id:
            return None
        if CommandRegistry.parse(message.body, self.config.bot.command_prefix) is not None:
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

    def room_scope(self, room_id: str | None) -> RoomScope:
        """What a reader in `room_id` may read: that room plus `memory.shared_rooms[room_id]`; None (the local
        operator, the CLI) reads every room."""
        if room_id is None:
            return RoomScope.everything()
        return RoomScope.for_room(room_id, self.config.memory.shared_rooms)

    def strip_mention(self, text: str) -> str:
        """The question without the bot's name or mention."""
        return self._mention.sub(" ", text).strip(" ,:;\t\n") or text.strip()

    async def respond(self, kept: KeptMessage, *, only_if_pending: bool = True) -> HandleResult:
        """Notice, act and deliver for one kept message; returns what was done.

        The notice step runs here unless `notice_batch` already analysed the message's batch
        (`kept.insights` set; a resumed message gets `[]`: it was analysed before the crash, or is in
        the analysis backlog). The message's pending action is worked on once: a second `respond` while
        the first runs, or after the action was completed (or the message redacted), does not act
        again. `only_if_pending=False` acts even when no pending action is recorded (an explicit `resume`).
        """
        stored = kept.stored
        if kept.insights is None:
            kept.insights = self.notice(stored)
        insights = kept.insights
        replies: list[Reply] = []
        wants_action = kept.action is not None or kept.too_long or (bool(self.suggesters) and not stored.is_bot)
        if wants_action and stored.id not in self._responding:
            if kept.action is None or not only_if_pending or self.pending.is_pending(stored.id):
                self._responding.add(stored.id)
                try:
                    replies = await self.act(kept, insights)
                    await self.deliver(replies, answering=stored)
                finally:
                    self._responding.discard(stored.id)
        self.publish_stats()
        return HandleResult(message=stored, insights=insights, replies=replies)

    def notice(self, stored: StoredMessage) -> list[Insight]:
        """The notice step for one live message: the analysis slot finds, stores and publishes its insights.

        Analysis reads the first `ANALYSIS_CHARS` of the message (the whole text stays stored).
        """
        return self.analysis.notice(_analysed_part(stored))

    def notice_batch(self, kept: Sequence[KeptMessage]) -> list[Insight]:
        """The notice step for a kept batch, once, after its keep committed; each message gets its insights.

        Every transport that keeps messages in batches (Matrix sync batches, ingest) calls this before
        `respond`, so the batch is analysed in one pass and `respond` does not analyse it again.
        """
        if not kept:
            return []
        insights = self.analysis.analyse_batch([_analysed_part(item.stored) for item in kept])
        by_message: dict[int, list[Insight]] = {item.stored.id: [] for item in kept}
        for insight in insights:
            if insight.message_id in by_message:
                by_message[insight.message_id].append(insight)
        for item in kept:
            item.insights = by_message[item.stored.id]
        return insights

    async def act(self, kept: KeptMessage, insights: list[Insight]) -> list[Reply]:
        """Dispatch a command, answer a question, or offer a proactive suggestion; returns the replies (unsent)."""
        stored = kept.stored
        replies: list[Reply] = []
        try:
            if kept.too_long:
                replies.append(self._too_long_reply(stored))
            elif kept.action == "command":
                replies.append(await run_command(self, kept.stored, kept.original_body, kept.attachments,
                                                 raw=kept.raw))
            elif kept.action == "question":
                answer = await self.answer_path.answer(
                    AnswerContext(
                        question=self.strip_mention(kept.original_body),
                        room_id=stored.room_id,
                        asker=stored.sender,
                        message_id=stored.id,
                        thread_id=stored.thread_id,
                        scope=self.room_scope(stored.room_id),
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
        return replies

    def _too_long_reply(self, stored: StoredMessage) -> Reply:
        """The one reply to a message over the size limit: kept, but not read any further."""
        size = len(stored.body)
        return Reply(
            room_id=stored.room_id,
            body=f"That message is {size // 1024} KB, over the {MAX_MESSAGE_CHARS // 1024} KB limit: it is stored, "
                 "but I did not act on it or analyse it. Send a shorter message, or attach the text as a file.",
            kind="error",
            thread_id=stored.thread_id,
            in_reply_to=stored.event_id,
        )

    async def deliver(
        self, replies: list[Reply], *, answering: StoredMessage | None = None, transport: str | None = None
    ) -> list[Reply]:
        """The one delivery path: store the bot's replies and hand them to the room's transport.

        The replies are stored (with the delivery state the transport asks for) in one transaction that also
        clears the pending action of the message they answer; `MessageStored` and `ReplySent` are published
        after that commit; then `Transport.deliver` sends each. `transport` defaults to the answered message's,
        else the room's. Returns the replies that were stored (with `message_id` set).
        """
        saved = self.store_replies(replies, answering=answering, transport=transport)
        carrier = self.transport_for(transport or self._transport_of(answering, replies))
        for reply in saved:
            await carrier.deliver(reply)
        return saved

    def store_replies(
        self, replies: list[Reply], *, answering: StoredMessage | None = None, transport: str | None = None
    ) -> list[Reply]:
        """Store replies as the bot and clear the answered message's pending action, in one transaction."""
        name = transport or self._transport_of(answering, replies)
        carrier = self.transport_for(name)
        sender_name = carrier.display_name or self.config.bot.display_name
        for reply in replies:  # a reply may echo its command's arguments or quote a source: redact again
            reply.body = redact_secrets(reply.body).text
            reply.room_id = clean_text(reply.room_id)
            reply.thread_id = clean_optional(reply.thread_id)
            reply.in_reply_to = clean_optional(reply.in_reply_to)
        rows = [reply_row(reply, bot_id=self.bot_id, sender_name=sender_name, transport=carrier,
                          ts=self.clock.now(), answering=answering) for reply in replies]
        saved: list[Reply] = []
        with self.store.transaction():
            for reply, stored in zip(replies, self.messages.insert_batch(rows), strict=True):
                if stored is None:
                    continue
                reply.message_id = stored.id
                saved.append(reply)
                if reply.answer is not None and reply.answer.interaction_id is not None:
                    self.interactions.set_reply_message(reply.answer.interaction_id, stored.id)
                self.bus.publish(MessageStored(stored))
                self.bus.publish(ReplySent(reply))
            if answering is not None:
                self.pending.clear(answering.id)
        self.stats.messages += len(saved)
        return saved

    def _transport_of(self, answering: StoredMessage | None, replies: list[Reply]) -> str:
        if answering is not None:
            return answering.transport
        room_id = replies[0].room_id if replies else None
        return (self.messages.room_transport(room_id) if room_id else None) or "local"

    def say(
        self,
        room_id: str,
        text: str,
        *,
        kind: str = "notice",
        thread_id: str | None = None,
        in_reply_to: str | None = None,
        meta: dict[str, Any] | None = None,
        transport: str | None = None,
    ) -> StoredMessage:
        """Post a bot-originated message (workflow output, an operator speaking as the bot, a notice).

        The text is redacted and stored like any reply; its transport (the room's, unless given) sends it
        in the background. Returns the stored message.
        """
        if not text.strip():
            raise ValueError("the message is empty")
        reply = Reply(room_id=room_id, body=redact_secrets(text).text, kind=kind, thread_id=thread_id,
                      in_reply_to=in_reply_to, meta=dict(meta or {}))
        name = transport or self.messages.room_transport(room_id) or "local"
        saved = self.store_replies([reply], transport=name)
        assert saved and reply.message_id is not None
        stored = self.messages.get(reply.message_id)
        assert stored is not None
        self.background.spawn(self.transport_for(name).deliver(reply))
        self.publish_stats()
        return stored

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait (up to `timeout` seconds) for the background deliveries started by `say`."""
        await self.background.wait(timeout)

    def pending_actions(self, transport: str | None = None) -> list[tuple[StoredMessage, str]]:
        """Stored messages whose command or answer never completed (of one transport, or all), oldest first."""
        result = []
        for message_id, action in self.pending.all():
            message = self.messages.get(message_id)
            if message is not None and (transport is None or message.transport == transport):
                result.append((message, action))
        return result

    def cancel_action(self, message_id: int) -> None:
        """Drop a message's pending command or question (it was redacted): it will not be answered."""
        self.pending.clear(message_id)

    async def resume_pending(self, transport: str) -> int:
        """Finish the commands and answers of `transport`'s messages stored before a crash; returns how many."""
        resumed = 0
        for message, action in self.pending_actions(transport):
            await self.resume(message, action)
            resumed += 1
        if resumed:
            log.info("resumed %d unfinished %s actions", resumed, transport)
        return resumed

    async def resume(self, message: StoredMessage, action: str, original_body: str | None = None) -> list[Reply]:
        """Finish the command or answer of a message that was stored before a crash; returns the replies."""
        kept = KeptMessage(message, redact_secrets(original_body).text if original_body is not None else message.body,
                           action, insights=[])
        result = await self.respond(kept, only_if_pending=False)
        return result.replies

    # -- direct entry points -----------------------------------------------------------------

    async def ask(self, question: str, *, room_id: str | None = None, asker: str | None = None) -> Answer:
        """One pass through the answer path without storing a chat message (the CLI's `ask`)."""
        # The local operator's question: it reads every room, and answers as if asked in `room_id` when given.
        answer = await self.answer_path.answer(AnswerContext(
            question=redact_secrets(question).text, room_id=clean_optional(room_id), asker=clean_optional(asker),
            scope=RoomScope.everything()))
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


@dataclass(slots=True)
class _Prepared:
    """A message ready to store: its row, the redacted copy the pipeline works with, and its action."""

    row: NewMessage
    safe: ChatMessage
    action: str | None
    raw: RawInput | None
    too_long: bool


def _redacted_copy(message: ChatMessage) -> tuple[ChatMessage, tuple[str, ...]]:
    """The message with every text field cleaned and its body and attachment texts redacted; the kinds found."""
    body = redact_secrets(message.body)
    kinds = list(body.kinds)
    attachments = []
    for attachment in message.attachments:
        text = None
        if attachment.text is not None:
            redaction = redact_secrets(attachment.text)
            kinds += redaction.kinds
            text = redaction.text
        attachments.append(dataclasses.replace(
            attachment, name=clean_text(attachment.name), mimetype=clean_text(attachment.mimetype), text=text,
            url=clean_optional(attachment.url)))
    safe = dataclasses.replace(
        message, body=body.text, room_id=clean_text(message.room_id), sender=clean_text(message.sender),
        event_id=clean_text(message.event_id), thread_id=clean_optional(message.thread_id),
        reply_to=clean_optional(message.reply_to), sender_name=clean_optional(message.sender_name),
        room_name=clean_optional(message.room_name), attachments=attachments)
    return safe, tuple(dict.fromkeys(kinds))


def _raw_attachments(message: ChatMessage, safe: ChatMessage) -> list[Attachment]:
    """The message's attachments with the cleaned names of `safe` and their texts as sent, cleaned (`RawInput`)."""
    return [dataclasses.replace(cleaned, text=clean_optional(original.text))
            for original, cleaned in zip(message.attachments, safe.attachments, strict=True)]


def _analysed_part(stored: StoredMessage) -> StoredMessage:
    """The stored message as analysis sees it: at most its first `ANALYSIS_CHARS` characters."""
    if len(stored.body) <= ANALYSIS_CHARS:
        return stored
    return dataclasses.replace(stored, body=stored.body[:ANALYSIS_CHARS])


def _as_chat_message(stored: StoredMessage) -> ChatMessage:
    """A stored message as the keepers' `ChatMessage` (for messages resumed or analysed from the store)."""
    return ChatMessage(room_id=stored.room_id, sender=stored.sender, body=stored.body, transport=stored.transport,
                       event_id=stored.event_id, ts=stored.ts, thread_id=stored.thread_id, reply_to=stored.reply_to,
                       sender_name=stored.sender_name)
