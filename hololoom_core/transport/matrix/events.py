"""Room events other than new messages: reactions (feedback), edits, redactions and membership changes.

Every handler here is synchronous and runs inside the transaction that stores its sync batch, so the
sync token advances only once these changes are durable.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hololoom_core.events import FeedbackRecorded, MessageChanged
from hololoom_core.redact import redact_secrets
from hololoom_core.transport.matrix.addressing import strip_reply_fallback
from hololoom_core.transport.matrix.state import MatrixState

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

log = logging.getLogger(__name__)

VARIATION_SELECTOR = "\ufe0f"


def normalise_key(key: str) -> str:
    """A reaction key without emoji variation selectors or surrounding spaces."""
    return key.replace(VARIATION_SELECTOR, "").strip()


class RoomEventHandler:
    """Applies reactions, edits, redactions and membership changes to the engine's store."""

    def __init__(self, engine: Engine, state: MatrixState) -> None:
        self.engine = engine
        self.state = state
        self.reaction_values = {normalise_key(key): value for key, value in engine.config.matrix.reactions.items()}

    # -- reactions ---------------------------------------------------------------------------------

    def interaction_for_event(self, event_id: str) -> int | None:
        """The interaction whose answer the bot sent as this Matrix event (any part of a split answer)."""
        message_id = self.state.message_for_sent_event(event_id)
        if message_id is not None:
            message = self.engine.messages.get(message_id)
            if message is not None and message.meta.get("interaction_id") is not None:
                return int(message.meta["interaction_id"])
            row = self.engine.store.query_one("SELECT id FROM interactions WHERE reply_message_id = ?", (message_id,))
            if row is not None:
                return int(row["id"])
        interaction = self.engine.interactions.by_reply_event(event_id)
        return interaction.id if interaction is not None else None

    def on_reaction(self, *, event_id: str, room_id: str, sender: str, target: str, key: str, ts: float) -> bool:
        """Record a reaction on one of the bot's answers as feedback (mapping from `matrix.reactions`)."""
        value = self.reaction_values.get(normalise_key(key))
        interaction_id = self.interaction_for_event(target)
        if not self.state.record_reaction(
            event_id=event_id, room_id=room_id, sender=sender, target_event_id=target, key=key,
            interaction_id=interaction_id, value=value, ts=ts,
        ):
            return False
        if interaction_id is None or value is None:
            return False
        return self.engine.record_feedback(interaction_id, sender, value, "reaction", ref=event_id)

    # -- redactions --------------------------------------------------------------------------------

    def on_redaction(self, *, redacts: str, sender: str) -> str | None:
        """Withdraw a redacted reaction's feedback, or remove a redacted message's content; returns what happened."""
        reaction = self.state.reaction(redacts)
        if reaction is not None:
            if reaction["withdrawn"]:
                return None
            self.state.withdraw_reaction(redacts)
            interaction_id, value = reaction["interaction_id"], reaction["value"]
            if interaction_id is not None and value is not None:
                removed = self.engine.interactions.remove_feedback(
                    interaction_id, reaction["sender"], "reaction", redacts
                )
                if removed:
                    self.engine.bus.publish(FeedbackRecorded(interaction_id, -int(value), "reaction-withdrawn"))
                    return "feedback-withdrawn"
            return "reaction-withdrawn"
        stored = self.engine.messages.by_event_id(redacts)
        if stored is None or stored.redacted:
            return None
        self.engine.messages.redact(stored.id)
        self.engine.cancel_action(stored.id)  # a withdrawn question or command is not answered
        changed = self.engine.messages.get(stored.id)
        if changed is not None:
            self.engine.bus.publish(MessageChanged(changed, "redacted"))
        log.info("message %s redacted by %s", stored.id, sender)
        return "message-redacted"

    # -- edits ---------------------------------------------------------------------------------------

    def on_edit(self, *, target: str, sender: str, content: dict[str, Any], ts: float) -> bool:
        """Apply an `m.replace` edit from the message's own author to the stored body and its index."""
        new_content = content.get("m.new_content")
        if not isinstance(new_content, dict) or not isinstance(new_content.get("body"), str):
            return False
        stored = self.engine.messages.by_event_id(target)
        if stored is None or stored.redacted or stored.sender != sender:
            return False
        body = redact_secrets(strip_reply_fallback(new_content["body"])).text
        if body == stored.body:
            return False
        self.engine.messages.update_body(stored.id, body, ts)
        changed = self.engine.messages.get(stored.id)
        if changed is not None:
            self.engine.bus.publish(MessageChanged(changed, "edited"))
        return True

    # -- membership ----------------------------------------------------------------------------------

    def on_membership(
        self,
        *,
        event_id: str,
        room_id: str,
        user_id: str,
        sender: str,
        membership: str,
        prev_membership: str | None,
        display_name: str | None,
        ts: float,
    ) -> bool:
        """Track a membership change (join, leave, invite, ban, knock) and the member's display name."""
        recorded = self.state.record_membership(
            event_id=event_id, room_id=room_id, user_id=user_id, sender=sender, membership=membership,
            prev_membership=prev_membership, display_name=display_name, ts=ts,
        )
        if recorded and membership == "join" and display_name:
            self.engine.messages.set_display_name(user_id, display_name, is_bot=user_id == self.engine.bot_id, ts=ts)
        return recorded
