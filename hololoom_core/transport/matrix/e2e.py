"""End-to-end encryption: key upkeep after each sync, the device trust policy, undecryptable events.

Trust policy (`matrix.e2e_trust`):
- `allowed` (default): devices of trusted users (`matrix.e2e_trusted_users`, or when that is empty the
  admins, `auto_join_users` and users of `auto_join_servers`) are marked verified automatically and
  receive the bot's room keys; every other device is blacklisted and cannot read what the bot says.
- `all`: every device in the room receives the keys without being marked verified (trust on first use).
An event the bot cannot decrypt is reported to the operator once per megolm session, the key is
requested from the sender's devices, and the sync goes on.
"""

from __future__ import annotations

import asyncio
import logging
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from nio import AsyncClient, MegolmEvent

from hololoom_core.transport.matrix.addressing import server_of
from hololoom_core.transport.matrix.state import MatrixState

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

log = logging.getLogger(__name__)


class EncryptionManager:
    """Keeps the bot's device keys published, shares room keys per the trust policy, reports failures once."""

    def __init__(self, engine: Engine, state: MatrixState, client: AsyncClient) -> None:
        self.engine = engine
        self.state = state
        self.client = client
        config = engine.config.matrix
        self.policy = config.e2e_trust
        self.trusted_patterns = list(config.e2e_trusted_users) or [*engine.config.bot.admins, *config.auto_join_users]
        self.trusted_servers = [] if config.e2e_trusted_users else list(config.auto_join_servers)
        self.undecryptable_reported = 0

    @property
    def enabled(self) -> bool:
        """True when the client has an olm machine (encryption on and the crypto store loaded)."""
        return self.client.olm is not None

    def user_trusted(self, user_id: str) -> bool:
        """True for users whose devices the bot verifies automatically."""
        lowered = user_id.lower()
        if any(fnmatchcase(lowered, pattern.lower()) for pattern in self.trusted_patterns):
            return True
        return any(fnmatchcase(server_of(lowered), pattern.lower()) for pattern in self.trusted_servers)

    async def after_sync(self) -> None:
        """Upload, query and claim keys as the olm machine needs, and send queued to-device messages."""
        if not self.enabled:
            return
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            users = client.get_users_for_key_claiming()
            if users:
                await client.keys_claim(users)
        if client.outgoing_to_device_messages:
            await client.send_to_device_messages()

    def apply_trust(self, room_id: str) -> None:
        """Verify trusted users' devices in an encrypted room; blacklist the others (policy `allowed`)."""
        if not self.enabled:
            return
        room = self.client.rooms.get(room_id)
        if room is None or not room.encrypted:
            return
        for user_id in list(room.users):
            if user_id == self.client.user_id:
                continue
            trusted = self.user_trusted(user_id)
            for device in self.client.device_store.active_user_devices(user_id):
                if trusted:
                    if device.blacklisted:
                        self.client.unblacklist_device(device)
                    if not device.verified:
                        self.client.verify_device(device)
                elif self.policy == "allowed" and not device.blacklisted and not device.verified:
                    self.client.blacklist_device(device)

    async def prepare_send(self, room_id: str) -> bool:
        """Before sending into an encrypted room: members and keys known, trust applied; True if encrypted."""
        if not self.enabled:
            return False
        room = self.client.rooms.get(room_id)
        if room is None or not room.encrypted:
            return False
        if not room.members_synced:
            await self.client.joined_members(room_id)
        if self.client.should_query_keys:
            await self.client.keys_query()
        self.apply_trust(room_id)
        return True

    def on_undecryptable(self, event: MegolmEvent, room_id: str) -> None:
        """Report an undecryptable event once per session, ask for its key, and carry on."""
        first = self.state.record_undecryptable(event.event_id, room_id, event.sender, event.session_id)
        if not first:
            return
        self.undecryptable_reported += 1
        self.engine.report_error(
            "matrix e2e",
            f"cannot decrypt a message from {event.sender} in {room_id} (megolm session {event.session_id}); "
            "asked the sender's devices for the key; the message is skipped until it arrives",
        )
        if self.enabled:
            task = asyncio.ensure_future(self._request_key(event))
            task.add_done_callback(_log_failure)

    async def _request_key(self, event: MegolmEvent) -> None:
        try:
            await self.client.request_room_key(event)
        except Exception as exc:  # an already pending request raises; nothing to do
            log.info("room key request for %s not sent: %s", event.session_id, exc)

    def status(self) -> dict[str, Any]:
        """Encryption facts for the status line and doctor."""
        return {
            "enabled": self.enabled,
            "device_id": self.client.device_id,
            "policy": self.policy,
            "undecryptable": self.undecryptable_reported,
        }


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("encryption task failed: %s", task.exception())
