"""The command registry: commands register a handler with help and permissions; the pipeline dispatches.

Chat (`!name args`) and the CLI (`hololoom say "!name args"`) share this one implementation.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hololoom_core.models import StoredMessage

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class CommandError(Exception):
    """A usage problem the asker should see as one line (bad arguments, unknown target)."""


@dataclass(slots=True)
class CommandContext:
    """What a command handler gets: the engine, the message, and the parsed invocation."""

    engine: Engine
    message: StoredMessage
    name: str
    args: str
    argv: list[str]
    original_body: str

    @property
    def user(self) -> str:
        """Who ran the command."""
        return self.message.sender

    @property
    def room_id(self) -> str:
        """Where the command was run."""
        return self.message.room_id


@dataclass(slots=True)
class CommandResult:
    """A command's reply (Markdown) and whether it succeeded."""

    text: str
    ok: bool = True
    thread_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[CommandContext], Awaitable[CommandResult | str]]


@dataclass(slots=True)
class CommandSpec:
    """A registered command: name, aliases, usage, help text and who may run it."""

    name: str
    handler: Handler
    help: str
    usage: str = ""
    aliases: tuple[str, ...] = ()
    admin_only: bool = False
    group: str = "general"


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A command invocation split into name and arguments."""

    name: str
    args: str
    argv: list[str]


class CommandRegistry:
    """All commands known to the engine, by name and alias."""

    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}
        self._aliases: dict[str, str] = {}

    def register(self, spec: CommandSpec) -> CommandSpec:
        """Add a command; a second registration of a name replaces the first."""
        self._commands[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.name
        return spec

    def command(
        self,
        name: str,
        *,
        help: str,
        usage: str = "",
        aliases: tuple[str, ...] = (),
        admin_only: bool = False,
        group: str = "general",
    ) -> Callable[[Handler], Handler]:
        """Decorator form of `register`."""

        def decorate(handler: Handler) -> Handler:
            self.register(CommandSpec(name, handler, help, usage, aliases, admin_only, group))
            return handler

        return decorate

    def get(self, name: str) -> CommandSpec | None:
        """The command with this name or alias."""
        name = name.lower()
        return self._commands.get(name) or self._commands.get(self._aliases.get(name, ""))

    def all(self) -> list[CommandSpec]:
        """Every command, sorted by name."""
        return sorted(self._commands.values(), key=lambda spec: spec.name)

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """The closest known command names to a mistyped one."""
        names = list(self._commands) + list(self._aliases)
        return difflib.get_close_matches(name.lower(), names, n=limit, cutoff=0.5)

    @staticmethod
    def parse(text: str, prefix: str) -> ParsedCommand | None:
        """Split `!name args` into a `ParsedCommand`; None if the text is not a command."""
        stripped = text.strip()
        if not stripped.startswith(prefix) or len(stripped) <= len(prefix):
            return None
        rest = stripped[len(prefix) :]
        if not rest or rest[0].isspace() or not (rest[0].isalnum()):
            return None
        head, _, args = rest.partition(" ")
        if "\n" in head:
            head, _, more = head.partition("\n")
            args = more + (" " + args if args else "")
        args = args.strip()
        try:
            argv = shlex.split(args) if args else []
        except ValueError:
            argv = args.split()
        return ParsedCommand(head.lower(), args, argv)
