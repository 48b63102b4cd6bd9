"""`MatrixTransport`: the engine as a Matrix bot, on the engine's event loop.

It logs in, resumes unfinished work (answers whose messages were stored but not answered, replies stored
but not sent), then syncs until stopped. Every message goes through the engine's two pipeline steps:
`keep_batch` inside the sync batch's transaction (batch.py), then `respond` (notice, act, deliver); the
engine hands each stored reply back to this transport's `deliver`, which sends it through the outbox. The app runs `run()` in a named worker; `hololoom bot`
runs it headless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from nio import AsyncClient, JoinResponse, RoomResolveAliasResponse, SyncResponse

from hololoom_core.engine.delivery import DeliveryState
from hololoom_core.engine.pipeline import Engine, KeptMessage
from hololoom_core.models import Reply, StoredMessage
from hololoom_core.transport.matrix.addressing import AddressingPolicy
from hololoom_core.transport.matrix.batch import AppliedBatch, BatchProcessor
from hololoom_core.transport.matrix.capability import MatrixBot
from hololoom_core.transport.matrix.e2e import EncryptionManager
from hololoom_core.transport.matrix.events import RoomEventHandler
from hololoom_core.transport.matrix.outbox import Outbox
from hololoom_core.transport.matrix.session import MatrixLoginError, login, set_display_name
from hololoom_core.transport.matrix.state import MatrixState
from hololoom_core.transport.matrix.sync import Backoff, SyncLoop

log = logging.getLogger(__name__)

TYPING_DELAY_S = 0.3
RECEIPT_INTERVAL_S = 2.0


class MatrixTransport:
    """Connects one engine to one Matrix account; `run()` until `stop()`. A `Transport` for the engine."""

    name = "matrix"
    reply_state: DeliveryState = "pending"  # stored first, then sent exactly once by the outbox

    def __init__(self, engine: Engine) -> None:
        if not engine.config.matrix.configured:
            raise MatrixLoginError(
                "Matrix is not configured: set matrix.homeserver, matrix.user_id and matrix.access_token or "
                "matrix.password (see docs/matrix.md)"
            )
        self.engine = engine
        self.config = engine.config.matrix
        self.state = MatrixState(engine.store)
        self.client: AsyncClient | None = None
        self.sync: SyncLoop | None = None
        self.outbox: Outbox | None = None
        self.encryption: EncryptionManager | None = None
        self.policy: AddressingPolicy | None = None
        self.connection = "stopped"
        self.started_at: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._answer_slots = asyncio.Semaphore(self.config.max_concurrent_answers)
        self._stop = asyncio.Event()
        self._handled_invites: set[str] = set()
        self._joined_rooms = -1
        self._unfinished: list[tuple[StoredMessage, str]] = []
        self._receipts: dict[str, str] = {}
        self._receipt_task: asyncio.Task[Any] | None = None
        self.send_backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        engine.provide(self)
        engine.provide(self, as_type=MatrixBot)  # the app looks the transport up without importing matrix-nio
        engine.access.is_direct_room = self.is_direct_room

    # -- status ------------------------------------------------------------------------------------

    def set_status(self, state: str, detail: str = "", *, error: str | None = None) -> None:
        """Publish the connection state with the last sync time and last error."""
        self.connection = state
        sync = self.sync
        extra = {
            "last_sync_ts": sync.last_sync_ts if sync else None,
            "last_error": sync.last_error if sync else None,
            "user_id": self.config.user_id,
            "rooms": len(self.state.rooms()),
        }
        if error is not None or state == "error":
            extra["last_error"] = error or detail
        self.engine.set_status("matrix", state, detail, **extra)

    @property
    def display_name(self) -> str:
        """The bot's display name in Matrix rooms."""
        return self.engine.config.bot.display_name

    async def deliver(self, reply: Reply) -> None:
        """Send one stored reply through the outbox (it stays pending, and is resent on start, until sent)."""
        if self.outbox is not None and reply.message_id is not None and self.state.room(reply.room_id) is not None:
            await self.outbox.deliver(reply.message_id)

    def is_direct_room(self, room_id: str) -> bool:
        """True for Matrix rooms the transport knows as direct (for the access policy)."""
        record = self.state.room(room_id)
        return bool(record and record.is_direct)

    def rooms(self) -> list[dict[str, Any]]:
        """Joined Matrix rooms for the app: id, name, encrypted, direct."""
        return [
            {"room_id": r.room_id, "name": r.name, "encrypted": r.encrypted, "is_direct": r.is_direct}
            for r in self.state.rooms()
        ]

    # -- life cycle ----------------------------------------------------------------------------------

    async def run(self, *, login_attempts: int | None = None) -> None:
        """Log in, resume, and sync until stopped; a refused login raises `MatrixLoginError` (one line).

        An unreachable homeserver is retried with backoff (`login_attempts` caps the tries; None: until stopped).
        """
        self.started_at = time.time()
        self.set_status("connecting", f"logging in to {self.config.homeserver}")
        client = await self._login_with_retry(login_attempts)
        if client is None:
            await self._shutdown()
            return
        self.client = client
        sync_task: asyncio.Task[None] | None = None
        stop_task: asyncio.Task[Any] | None = None
        try:
            await self._prepare(client)
            assert self.sync is not None
            sync_task = asyncio.ensure_future(self.sync.run())
            stop_task = asyncio.ensure_future(self._stop.wait())
            done, _ = await asyncio.wait({sync_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            if sync_task in done:
                sync_task.result()  # raises MatrixLoginError when the server refused the login
        except MatrixLoginError as exc:
            self.set_status("error", str(exc))
            raise
        finally:
            for task in (sync_task, stop_task):
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            await self._shutdown()

    async def _login_with_retry(self, attempts: int | None) -> AsyncClient | None:
        """Log in; wait and retry while the homeserver cannot be reached. None when stopped meanwhile."""
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_max_s)
        while not self._stop.is_set():
            try:
                return await login(self.engine.config)
            except MatrixLoginError as exc:
                if not exc.transient or (attempts is not None and backoff.failures + 1 >= attempts):
                    self.set_status("error", str(exc))
                    raise
                wait = backoff.next()
                self.set_status("connecting", f"retry {backoff.failures} in {wait:.1f} s", error=str(exc))
                log.warning("%s; retrying in %.1f s", exc, wait)
                try:
                    await asyncio.wait_for(self._stop.wait(), wait)
                except TimeoutError:
                    pass
        return None

    def stop(self) -> None:
        """Ask `run()` to finish: stop syncing, let running answers finish briefly, close the connection."""
        self._stop.set()

    async def _prepare(self, client: AsyncClient) -> None:
        """Display name, room allowlist, helpers, the outbox subscription and the resume of unfinished work."""
        try:
            await set_display_name(client, self.engine.config.bot.display_name)
        except Exception as exc:  # not fatal: the bot works under its old name
            log.warning("could not set the display name: %s", exc)
        allowed = await self._resolve_rooms(client)
        self.policy = AddressingPolicy.from_config(self.config, self.engine.config.bot, client.user_id, allowed)
        self.encryption = EncryptionManager(self.engine, self.state, client)
        handler = RoomEventHandler(self.engine, self.state)
        processor = BatchProcessor(self.engine, self.state, client, self.policy, handler, self.encryption)
        self.outbox = Outbox(self.engine, self.state, self._send_event, self.send_backoff.delay_for)
        self.sync = SyncLoop(
            self.engine, self.state, client, processor,
            on_batch=self._on_batch, on_status=self.set_status, after_sync=self.encryption.after_sync,
        )
        if self.encryption.enabled:
            await self.encryption.after_sync()  # upload the device keys before the first message
        self._unfinished = self.engine.pending_actions("matrix")
        self.engine.attach_transport(self)
        for room_id in allowed:
            if room_id not in client.rooms:
                self._spawn(self._join(room_id, reason="configured"))
        self._spawn(self._resume_after_first_sync())

    async def _resolve_rooms(self, client: AsyncClient) -> set[str]:
        """Room ids of the allowlist (aliases resolved; an unknown alias is reported and skipped)."""
        allowed: set[str] = set()
        for entry in self.config.rooms:
            if entry.startswith("#"):
                response = await client.room_resolve_alias(entry)
                if isinstance(response, RoomResolveAliasResponse):
                    allowed.add(response.room_id)
                else:
                    self.engine.report_error("matrix", f"matrix.rooms: cannot resolve {entry} ({response})")
            else:
                allowed.add(entry)
        if self.config.rooms and not allowed:
            allowed.add("!none-of-the-configured-rooms-resolved")
        return allowed

    async def _resume_after_first_sync(self) -> None:
        """After the first sync: finish answers that were stored but not given, send replies not yet sent."""
        assert self.sync is not None and self.outbox is not None
        await self.sync.first_sync_done.wait()
        resumed = len(self._unfinished)
        for message, action in self._unfinished:
            # analysed before the crash, or left to the analysis catch-up: not noticed again
            self._spawn(self._respond(KeptMessage(message, message.body, action, insights=[])))
        self._unfinished = []
        pending = self.outbox.pending_ids()
        for message_id in pending:
            self._spawn(self.outbox.deliver(message_id))
        if resumed or pending:
            log.info("resumed %d unfinished answers and %d unsent replies", resumed, len(pending))
        self.outbox.ready.set()

    async def _shutdown(self) -> None:
        """Give running answers a moment, then close the HTTP session (unfinished work resumes next start)."""
        self.set_status("stopping", "")
        if self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=5.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        self.engine.detach_transport(self)
        if self.client is not None:
            await self.client.close()
        self.set_status("stopped", "")

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("matrix task failed: %s", error, exc_info=error)
            self.engine.report_error("matrix", f"{type(error).__name__}: {error}")

    # -- after each sync -------------------------------------------------------------------------------

    async def _on_batch(self, response: SyncResponse, applied: AppliedBatch) -> None:
        """Dispatch what the stored batch asks for: invites, commands and questions, notices, receipts."""
        for room_id, info in response.rooms.invite.items():
            if room_id not in self._handled_invites:
                self._handled_invites.add(room_id)
                self._spawn(self._answer_invite(room_id, info))
        self.engine.notice_batch(applied.kept)  # the batch's analysis, once, now that it is committed
        for kept in applied.kept:  # the engine's second step for each kept message, as `Engine.handle` runs it
            self._spawn(self._respond(kept))
        for kept, notice in applied.notices:
            self.engine.say(kept.stored.room_id, notice, kind="notice", thread_id=kept.stored.thread_id,
                            in_reply_to=kept.stored.event_id, transport=self.name)
        if applied.stored:
            self.engine.publish_stats()
        joined = len(self.state.rooms())
        if joined != self._joined_rooms:
            self._joined_rooms = joined
            self.set_status(self.connection, "")  # tells the app the room list changed
        if self.config.read_receipts and applied.last_event:
            self._receipts.update(applied.last_event)
            if self._receipt_task is None or self._receipt_task.done():
                self._receipt_task = self._spawn(self._send_receipts())

    async def _respond(self, kept: KeptMessage) -> None:
        """Run the engine's `respond` step; commands and questions share `max_concurrent_answers` slots."""
        if kept.action is None:
            await self.engine.respond(kept)
            return
        room_id = kept.stored.room_id
        async with self._answer_slots:
            typing: asyncio.Task[bool] | None = None
            if self.config.typing_notifications and kept.action == "question" and self.client is not None:
                typing = self._spawn(self._typing_after(room_id, TYPING_DELAY_S))
            try:
                await self.engine.respond(kept)
            finally:
                if typing is not None:
                    if typing.done() and not typing.cancelled() and typing.result():
                        self._spawn(self._typing(room_id, False))
                    else:
                        typing.cancel()

    # -- talking to the homeserver ----------------------------------------------------------------------

    async def _send_event(self, room_id: str, content: dict[str, Any], txn_id: str) -> Any:
        """Send one `m.room.message` (encrypted when the room is) with a fixed transaction id."""
        assert self.client is not None and self.encryption is not None and self.sync is not None
        await self.sync.first_sync_done.wait()
        encrypted = await self.encryption.prepare_send(room_id)
        return await self.client.room_send(
            room_id, "m.room.message", content, tx_id=txn_id,
            ignore_unverified_devices=encrypted and self.encryption.policy == "all",
        )

    async def _typing_after(self, room_id: str, delay: float) -> bool:
        """Show "typing" once an answer has taken `delay` seconds (fast answers need no notice); True if shown."""
        await asyncio.sleep(delay)
        await self._typing(room_id, True)
        return True

    async def _typing(self, room_id: str, typing: bool) -> None:
        assert self.client is not None
        try:
            await self.client.room_typing(room_id, typing_state=typing, timeout=30_000)
        except Exception as exc:  # typing is a courtesy; never fail an answer for it
            log.debug("typing notice failed: %s", exc)

    async def _send_receipts(self) -> None:
        """Send read receipts for the newest event of each room (coalesced)."""
        assert self.client is not None
        await asyncio.sleep(RECEIPT_INTERVAL_S)  # coalesce: one receipt per room per interval, off the reply's path
        while self._receipts:
            room_id, event_id = self._receipts.popitem()
            try:
                await self.client.update_receipt_marker(room_id, event_id)
            except Exception as exc:  # receipts are a courtesy
                log.debug("read receipt failed: %s", exc)

    async def _answer_invite(self, room_id: str, info: Any) -> None:
        """Join an invite from an allowed user or server into an allowed room; decline the rest."""
        assert self.client is not None and self.policy is not None
        inviter, is_direct = None, False
        for event in info.invite_state:
            source = getattr(event, "source", {}) or {}
            if source.get("type") == "m.room.member" and source.get("state_key") == self.client.user_id:
                inviter = source.get("sender")
                is_direct = bool((source.get("content") or {}).get("is_direct"))
        inviter = inviter or "unknown"
        self.state.upsert_room(room_id, membership="invite", is_direct=is_direct, inviter=inviter)
        if self.policy.invite_allowed(inviter, room_id):
            await self._join(room_id, reason=f"invited by {inviter}")
        else:
            log.info("declining invite to %s from %s (not allowed)", room_id, inviter)
            await self.client.room_leave(room_id)
            self.state.upsert_room(room_id, membership="declined")

    async def _join(self, room_id: str, *, reason: str) -> None:
        assert self.client is not None
        self.state.put(f"joined_at:{room_id}", repr(self.engine.clock.now()))
        response = await self.client.join(room_id)
        if isinstance(response, JoinResponse):
            log.info("joined %s (%s)", room_id, reason)
        else:
            self.engine.report_error("matrix", f"cannot join {room_id} ({reason}): {response}")

    # -- the operator speaks as the bot ------------------------------------------------------------------

    async def send_as_bot(self, room_id: str, text: str) -> StoredMessage:
        """Store a message from the operator, as the bot, in a Matrix room; the engine sends it through `deliver`."""
        if self.state.room(room_id) is None:
            raise ValueError(f"{room_id} is not a Matrix room the bot is in")
        return self.engine.say(room_id, text, kind="operator", meta={"msgtype": "m.text"}, transport=self.name)
