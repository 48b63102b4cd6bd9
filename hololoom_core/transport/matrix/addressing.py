"""Which Matrix events the bot acts on, and how an event becomes a `ChatMessage`.

Pure functions over event content, so they are tested without a homeserver: commands (prefix from
config), mentions (`m.mentions`, display name, matrix.to pill), direct messages, the room allowlist
and the invite policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import unquote

from hololoom_core.config import BotConfig, MatrixConfig
from hololoom_core.engine.commands import CommandRegistry

_PILL = re.compile(r"https://matrix\.to/#/([^\"'?>\s]+)", re.I)


def _matches(value: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)


def server_of(user_id: str) -> str:
    """The server part of a Matrix id (`@bob:example.org` → `example.org`)."""
    return user_id.partition(":")[2]


@dataclass(slots=True)
class Relation:
    """Where an event sits: its thread root, the event it replies to, and its relation type."""

    thread_id: str | None = None
    reply_to: str | None = None
    rel_type: str | None = None
    target: str | None = None


def relation_of(content: dict[str, Any]) -> Relation:
    """Read `m.relates_to`: threads (`m.thread`), replies (`m.in_reply_to`), edits and annotations."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict):
        return Relation()
    rel_type = relates.get("rel_type")
    in_reply = relates.get("m.in_reply_to")
    reply_to = in_reply.get("event_id") if isinstance(in_reply, dict) else None
    target = relates.get("event_id") if isinstance(relates.get("event_id"), str) else None
    if rel_type == "m.thread":
        falling_back = bool(relates.get("is_falling_back"))
        return Relation(thread_id=target, reply_to=None if falling_back else reply_to, rel_type=rel_type,
                        target=target)
    return Relation(reply_to=reply_to, rel_type=rel_type, target=target)


def strip_reply_fallback(body: str) -> str:
    """Drop the `> <@user> quoted text` lines clients put before a reply."""
    if not body.startswith("> "):
        return body
    lines = body.splitlines()
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    while index < len(lines) and not lines[index].strip():
        index += 1
    return "\n".join(lines[index:])


@dataclass(slots=True)
class AddressingPolicy:
    """Decides what the bot acts on, from the `matrix` config and the bot's own identity."""

    bot_user_id: str
    display_name: str
    command_prefix: str = "!"
    allowed_rooms: set[str] = field(default_factory=set)
    admins: list[str] = field(default_factory=list)
    auto_join_users: list[str] = field(default_factory=list)
    auto_join_servers: list[str] = field(default_factory=list)

    @classmethod
    def from_config(
        cls, config: MatrixConfig, bot: BotConfig, bot_user_id: str, allowed_rooms: set[str]
    ) -> AddressingPolicy:
        """Build the policy; `allowed_rooms` holds room ids (aliases resolved by the caller)."""
        return cls(
            bot_user_id=bot_user_id,
            display_name=bot.display_name,
            command_prefix=bot.command_prefix,
            allowed_rooms=set(allowed_rooms),
            admins=list(bot.admins),
            auto_join_users=list(config.auto_join_users),
            auto_join_servers=list(config.auto_join_servers),
        )

    @property
    def localpart(self) -> str:
        """The bot's user name without `@` and server."""
        return self.bot_user_id.lstrip("@").partition(":")[0]

    def room_allowed(self, room_id: str) -> bool:
        """True when the room is on the allowlist, or when there is no allowlist."""
        return not self.allowed_rooms or room_id in self.allowed_rooms

    def invite_allowed(self, inviter: str, room_id: str) -> bool:
        """Invites are joined only from admins, allowed users or allowed servers, into allowed rooms."""
        if not self.room_allowed(room_id):
            return False
        return (
            _matches(inviter, self.admins)
            or _matches(inviter, self.auto_join_users)
            or _matches(server_of(inviter), self.auto_join_servers)
        )

    def is_command(self, body: str) -> bool:
        """True when the text is a `!command` (with the configured prefix)."""
        return CommandRegistry.parse(body, self.command_prefix) is not None

    def mentions_bot(self, content: dict[str, Any], body: str) -> bool:
        """True for `m.mentions` naming the bot, a matrix.to pill to it, or its id or display name in the text."""
        mentions = content.get("m.mentions")
        if isinstance(mentions, dict):
            user_ids = mentions.get("user_ids")
            if isinstance(user_ids, list) and self.bot_user_id in user_ids:
                return True
        formatted = content.get("formatted_body")
        if isinstance(formatted, str):
            for target in _PILL.findall(formatted):
                if unquote(target) == self.bot_user_id:
                    return True
        if self.bot_user_id.lower() in body.lower():
            return True
        for name in {self.display_name, self.localpart}:
            if name and re.search(r"(?:^|(?<=[\s@]))" + re.escape(name) + r"(?=$|[\s,:;!?.])", body, re.I):
                return True
        return False
