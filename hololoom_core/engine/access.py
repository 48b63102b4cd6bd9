"""Access control for commands: admins, and allow/deny globs per command, user and room (deny wins)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from hololoom_core.config import AclConfig, AclRule


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """Whether a command may run, and the reason when it may not."""

    allowed: bool
    reason: str = ""


def _matches(value: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(value.lower(), pattern.lower()) for pattern in patterns)


class AccessPolicy:
    """Decides who may run which command, from the `acl` config and the admin list."""

    def __init__(self, acl: AclConfig, admins: list[str]) -> None:
        self.acl = acl
        self.admins = list(admins)
        # Tells direct (one-to-one) rooms from group rooms; a transport that knows (Matrix) replaces it.
        self.is_direct_room: Callable[[str], bool] = lambda room_id: False

    def is_admin(self, user: str) -> bool:
        """True for configured admins (globs allowed, e.g. `@*:example.org`)."""
        return _matches(user, self.admins)

    def rule_for(self, command: str) -> AclRule:
        """The most specific rule whose glob matches `command` (e.g. `incident resolve` before `incident*`).

        A rule for a bare command name also covers its subcommands (`runbook` covers `runbook disk-full`).
        """
        best: tuple[int, AclRule] | None = None
        full = command.lower()
        name = full.split(" ", 1)[0]
        for pattern, rule in self.acl.commands.items():
            if fnmatchcase(full, pattern.lower()) or fnmatchcase(name, pattern.lower()):
                specificity = len(pattern.replace("*", "").replace("?", ""))
                if best is None or specificity > best[0]:
                    best = (specificity, rule)
        return best[1] if best else self.acl.default

    def has_permission(self, user: str, permission: str | None) -> bool:
        """True when `permission` is not restricted in `acl.permissions`, or `user` matches one of its globs."""
        if not permission or permission not in self.acl.permissions:
            return True
        return _matches(user, self.acl.permissions[permission])

    def check(
        self,
        command: str,
        user: str,
        room_id: str,
        *,
        admin_only: bool = False,
        permission: str | None = None,
        is_direct: bool | None = None,
    ) -> AccessDecision:
        """Decide for one command invocation; admins may run everything that is not explicitly denied to them.

        `allow_private: false` refuses a command in direct messages and `allow_group: false` in group rooms
        (errbot's allowprivate / allowmuc); like deny lists, they bind admins too.
        """
        rule = self.rule_for(command)
        admin = self.is_admin(user)
        if _matches(user, rule.deny_users):
            return AccessDecision(False, f"you are not allowed to run `{command}`")
        if _matches(room_id, rule.deny_rooms):
            return AccessDecision(False, f"`{command}` is not allowed in this room")
        direct = self.is_direct_room(room_id) if is_direct is None else is_direct
        if direct and not rule.allow_private:
            return AccessDecision(False, f"`{command}` cannot be run in a direct message; use it in a room")
        if not direct and not rule.allow_group:
            return AccessDecision(False, f"`{command}` works only in a direct message with me")
        if (admin_only or rule.admin_only) and not admin:
            return AccessDecision(False, f"`{command}` is for admins only")
        if admin:
            return AccessDecision(True)
        if not self.has_permission(user, permission):
            return AccessDecision(False, f"`{command}` needs the `{permission}` permission")
        if rule.allow_users is not None and not _matches(user, rule.allow_users):
            return AccessDecision(False, f"you are not on the allow list for `{command}`")
        if rule.allow_rooms is not None and not _matches(room_id, rule.allow_rooms):
            return AccessDecision(False, f"`{command}` is not allowed in this room")
        return AccessDecision(True)
