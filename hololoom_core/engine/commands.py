"""The command registry: commands register a handler with help and permissions; the pipeline dispatches.

Chat (`!name args`) and the CLI (`hololoom say "!name args"`) share this one implementation.

Registering a command (the decorator every capability and plugin uses):

    from hololoom_core.engine.arguments import Arg, DURATION, USER

    @engine.commands.command(
        "deploy",                                  # "!deploy"; a space makes a subcommand: "incident role"
        help="Deploy a service.",                  # one sentence, shown by !help
        aliases=("ship",),                         # other names
        args=[Arg("service", help="what to deploy"),
              Arg("replicas", int, default=1),     # optional: filled only when the word is a number
              Arg("timeout", DURATION, default=600.0, option=True)],   # --timeout 10m
        permission="deploy",                       # acl.permissions.deploy lists who may (admins always)
        admin_only=False,
        group="operations",                        # heading in !help
    )
    async def deploy(context: CommandContext) -> str:
        service = context.params["service"]        # converted values, defaults filled in
        ...
        return "Markdown reply"                    # or CommandResult(text, ok=..., thread_id=...)

Commands without `args` keep working as before (they read `context.argv` / `context.args`).
Usage problems raise `CommandError("one line")`; the asker gets that line plus the usage.
A command named "parent child" is a subcommand: `!parent child ...` runs it, `!help parent` lists
the children, and access rules can target "parent child" (the pipeline checks `name + first word`).
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hololoom_core.engine.access import AccessDecision
from hololoom_core.engine.arguments import Arg, CommandError, parse_arguments, usage_line
from hololoom_core.events import CommandHandled
from hololoom_core.models import Attachment, Reply, StoredMessage

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

__all__ = [
    "Arg",
    "CommandContext",
    "CommandError",
    "CommandRegistry",
    "CommandResult",
    "CommandSpec",
    "ParsedCommand",
]


@dataclass(frozen=True, slots=True)
class RawInput:
    """A command message as it was sent, before redaction: only commands registered with `raw_input=True`
    (code review, which masks every secret it reports) are given it; it is never stored."""

    body: str
    attachments: list[Attachment] = field(default_factory=list)


@dataclass(slots=True)
class CommandContext:
    """What a command handler gets: the engine, the message, and the parsed invocation."""

    engine: Engine
    message: StoredMessage
    name: str
    args: str
    argv: list[str]
    original_body: str  # the command's text, redacted (the raw text only for `raw_input` commands)
    params: dict[str, Any] = field(default_factory=dict)
    subcommand: str | None = None
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def user(self) -> str:
        """Who ran the command."""
        return self.message.sender

    @property
    def room_id(self) -> str:
        """Where the command was run."""
        return self.message.room_id

    @property
    def prefix(self) -> str:
        """The command prefix of this installation (usually `!`)."""
        return self.engine.config.bot.command_prefix


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
    """A registered command: name, aliases, usage, help text, typed arguments and who may run it."""

    name: str
    handler: Handler
    help: str
    usage: str = ""
    aliases: tuple[str, ...] = ()
    admin_only: bool = False
    group: str = "general"
    arguments: tuple[Arg, ...] = ()
    permission: str | None = None
    subcommands: dict[str, CommandSpec] = field(default_factory=dict)
    function: Handler | None = None
    parent: str | None = None
    # Commands whose access rules also apply (a workflow shortcut is checked as `workflow run` and as the
    # commands its steps do); shown in the permission table.
    also_checks: tuple[str, ...] = ()
    raw_input: bool = False  # gets the unredacted text and uploads (code review only: it masks what it reports)

    @property
    def full_name(self) -> str:
        """`incident role` for a subcommand, `ping` for a command."""
        return f"{self.parent} {self.name}" if self.parent else self.name

    @property
    def usage_text(self) -> str:
        """The usage line without the prefix: given, or built from the typed arguments."""
        if self.usage:
            return self.usage
        if self.arguments:
            return usage_line(self.full_name, self.arguments)
        if self.subcommands and self.function is None:
            return f"{self.full_name} SUBCOMMAND ..."
        return self.full_name

    def usage_with(self, prefix: str) -> str:
        """The usage line with the command prefix on every alternative (`!actions … | !actions done N`)."""
        return " | ".join(f"{prefix}{alternative}" for alternative in self.usage_text.split(" | "))

    def subcommand(self, word: str) -> CommandSpec | None:
        """The child command named (or aliased) `word`."""
        word = word.lower()
        if word in self.subcommands:
            return self.subcommands[word]
        for child in self.subcommands.values():
            if word in child.aliases:
                return child
        return None


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A command invocation split into name and arguments."""

    name: str
    args: str
    argv: list[str]


def _split_argv(args: str) -> list[str]:
    try:
        return shlex.split(args) if args else []
    except ValueError:
        return args.split()


class CommandRegistry:
    """All commands known to the engine, by name and alias."""

    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}
        self._aliases: dict[str, str] = {}

    # -- registering -------------------------------------------------------------------------

    def register(self, spec: CommandSpec) -> CommandSpec:
        """Add a command; a second registration of a name replaces the first (subcommands are kept)."""
        spec.name = spec.name.strip().lower()
        if spec.function is None:
            spec.function = spec.handler
        if " " in spec.name:
            parent_name, _, child_name = spec.name.partition(" ")
            return self._register_child(parent_name, child_name.strip(), spec)
        previous = self._commands.get(spec.name)
        if previous is not None and previous.subcommands and not spec.subcommands:
            spec.subcommands = previous.subcommands
        spec.handler = self._dispatcher(spec.name)
        self._commands[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias.lower()] = spec.name
        return spec

    def _register_child(self, parent_name: str, child_name: str, spec: CommandSpec) -> CommandSpec:
        parent = self._commands.get(parent_name)
        if parent is None:
            parent = self.group(parent_name, help=f"`{parent_name}` commands.", group=spec.group)
        spec.name = child_name
        spec.parent = parent_name
        parent.subcommands[child_name] = spec
        return spec

    def group(
        self,
        name: str,
        *,
        help: str,
        aliases: tuple[str, ...] = (),
        admin_only: bool = False,
        group: str = "general",
        permission: str | None = None,
    ) -> CommandSpec:
        """Declare a command that only holds subcommands (`!incident declare|role|...`)."""
        existing = self._commands.get(name)
        if existing is not None:
            existing.help = help
            existing.group = group
            for alias in aliases:
                self._aliases[alias.lower()] = name
            existing.aliases = tuple(dict.fromkeys((*existing.aliases, *aliases)))
            return existing

        async def no_handler(context: CommandContext) -> str:  # replaced by the dispatcher's listing
            raise CommandError(f"`{name}` needs a subcommand")

        spec = CommandSpec(name, no_handler, help, aliases=aliases, admin_only=admin_only, group=group,
                           permission=permission)
        self.register(spec)
        spec.function = None
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
        args: Sequence[Arg] | None = None,
        permission: str | None = None,
        raw_input: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Decorator form of `register` (see the module docstring for an example).

        `raw_input=True` hands the command the text as sent, before redaction (code review only).
        """

        def decorate(handler: Handler) -> Handler:
            self.register(
                CommandSpec(name, handler, help, usage, tuple(aliases), admin_only, group,
                            arguments=tuple(args or ()), permission=permission, raw_input=raw_input)
            )
            return handler

        return decorate

    def unregister(self, name: str) -> None:
        """Remove a command (or a subcommand, `"parent child"`) and its aliases."""
        name = name.lower()
        if " " in name:
            parent_name, _, child = name.partition(" ")
            parent = self._commands.get(parent_name)
            if parent is not None:
                parent.subcommands.pop(child.strip(), None)
            return
        self._commands.pop(name, None)
        for alias in [alias for alias, target in self._aliases.items() if target == name]:
            del self._aliases[alias]

    # -- looking up --------------------------------------------------------------------------

    def get(self, name: str) -> CommandSpec | None:
        """The command with this name or alias (`"parent child"` finds a subcommand)."""
        name = name.lower().strip()
        if " " in name:
            parent_name, _, child = name.partition(" ")
            parent = self.get(parent_name)
            return parent.subcommand(child.strip()) if parent is not None else None
        return self._commands.get(name) or self._commands.get(self._aliases.get(name, ""))

    def all(self) -> list[CommandSpec]:
        """Every command, sorted by name."""
        return sorted(self._commands.values(), key=lambda spec: spec.name)

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """The closest known command names to a mistyped one."""
        names = list(self._commands) + list(self._aliases)
        return difflib.get_close_matches(name.lower(), names, n=limit, cutoff=0.5)

    def decide(self, engine: Engine, full_name: str, user: str, room_id: str, *,
               permission: str | None = None) -> AccessDecision:
        """Whether `user` may run the command `full_name` (`incident declare`) in `room_id`, with the reason.

        The command's own `admin_only` and `permission` (or its parent's) apply, so a workflow step or an
        alias that does what a command does is checked exactly like the command; `permission` is used when
        the command declares none (for actions that have no chat command, such as a workflow's shell step).
        """
        spec = self.get(full_name)
        head = self.get(full_name.split(" ", 1)[0])
        parent = self._commands.get(spec.parent) if spec is not None and spec.parent else None
        admin_only = any(item is not None and item.admin_only for item in (spec, parent)) or \
            (spec is None and head is not None and head.admin_only)
        declared = next((item.permission for item in (spec, parent) if item is not None and item.permission), None)
        return engine.access.check(full_name, user, room_id, admin_only=admin_only,
                                   permission=declared or permission)

    def may_run(self, engine: Engine, spec: CommandSpec, user: str, room_id: str) -> bool:
        """True when `user` may run `spec` in `room_id` (a group: when it may run any of its subcommands)."""
        parent = self._commands.get(spec.parent) if spec.parent else None
        admin_only = spec.admin_only or bool(parent and parent.admin_only)
        permission = spec.permission or (parent.permission if parent else None)
        decision = engine.access.check(spec.full_name, user, room_id, admin_only=admin_only, permission=permission)
        if not decision.allowed:
            return False
        if spec.subcommands and spec.function is None:
            return any(self.may_run(engine, child, user, room_id) for child in spec.subcommands.values())
        return True

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
        return ParsedCommand(head.lower(), args, _split_argv(args))

    # -- running -----------------------------------------------------------------------------

    def _dispatcher(self, name: str) -> Handler:
        async def dispatch(context: CommandContext) -> CommandResult | str:
            return await self.invoke(name, context)

        dispatch.__name__ = f"dispatch_{name}"
        return dispatch

    async def invoke(self, name: str, context: CommandContext) -> CommandResult | str:
        """Run a registered command: pick the subcommand, check its permission, parse typed arguments."""
        spec = self._commands[name]
        target = spec
        args_text = context.args
        prefix = context.prefix
        if spec.subcommands and context.argv:
            child = spec.subcommand(context.argv[0])
            if child is not None:
                target = child
                args_text = args_text.lstrip()[len(args_text.lstrip().split(None, 1)[0]) :].strip()
                context.subcommand = child.name
                context.argv = _split_argv(args_text)
                context.args = args_text
            elif spec.function is None:
                choices = list(spec.subcommands) + [a for c in spec.subcommands.values() for a in c.aliases]
                close = difflib.get_close_matches(context.argv[0].lower(), choices, n=3, cutoff=0.5)
                hint = (" Did you mean " + ", ".join(f"`{prefix}{name} {c}`" for c in close) + "?") if close else ""
                return CommandResult(
                    f"Unknown subcommand `{prefix}{name} {context.argv[0]}`.{hint} "
                    f"Try `{prefix}help {name}`.", ok=False)
        if target.function is None:
            return self.describe_group(context.engine, spec, context.user, context.room_id, prefix)
        if target is not spec or spec.permission:
            admin_only = target.admin_only or spec.admin_only
            decision = context.engine.access.check(
                target.full_name, context.user, context.room_id, admin_only=admin_only,
                permission=target.permission or spec.permission,
            )
            if not decision.allowed:
                return CommandResult(f"Sorry, {decision.reason}.", ok=False, data={"refused": True})
        try:
            if target.arguments:
                context.params = parse_arguments(target.arguments, args_text)
            return await target.function(context)
        except CommandError as exc:
            text = str(exc)
            text += "" if text.endswith((".", "?", "!")) else "."
            if getattr(exc, "show_usage", True):
                text += f" Usage: `{target.usage_with(prefix)}`"
            return CommandResult(text, ok=False)

    # -- help --------------------------------------------------------------------------------

    def describe(self, engine: Engine, spec: CommandSpec, user: str, room_id: str, prefix: str) -> str:
        """`!help NAME`: usage, help, typed arguments, subcommands, aliases and the permission needed."""
        if spec.subcommands and spec.function is None:
            return self.describe_group(engine, spec, user, room_id, prefix)
        lines = [f"`{spec.usage_with(prefix)}`", "", spec.help]
        if spec.arguments:
            lines += ["", "**Arguments**"] + [f"- {arg.describe()}" for arg in spec.arguments]
        if spec.subcommands:
            lines += ["", "**Subcommands**"] + self._child_lines(engine, spec, user, room_id, prefix)
        if spec.aliases:
            names = [f"{prefix}{(spec.parent + ' ') if spec.parent else ''}{alias}" for alias in spec.aliases]
            lines += ["", "Aliases: " + ", ".join(names)]
        needs = []
        if spec.admin_only:
            needs.append("admins only")
        if spec.permission:
            needs.append(f"permission `{spec.permission}`")
        if needs:
            lines += ["", "Needs: " + ", ".join(needs)]
        return "\n".join(lines)

    def describe_group(self, engine: Engine, spec: CommandSpec, user: str, room_id: str, prefix: str) -> str:
        """The subcommands of a group that `user` may run, one line each."""
        lines = [f"**{prefix}{spec.name}** — {spec.help}", ""]
        lines += self._child_lines(engine, spec, user, room_id, prefix)
        lines += ["", f"`{prefix}help {spec.name} SUBCOMMAND` shows one in detail."]
        return "\n".join(lines)

    def _child_lines(self, engine: Engine, spec: CommandSpec, user: str, room_id: str, prefix: str) -> list[str]:
        lines = []
        for child in sorted(spec.subcommands.values(), key=lambda c: c.name):
            if self.may_run(engine, child, user, room_id):
                aliases = f" (also: {', '.join(child.aliases)})" if child.aliases else ""
                lines.append(f"- `{child.usage_with(prefix)}` — {child.help}{aliases}")
        return lines or ["- (none that you may run)"]


async def run_command(engine: Engine, stored: StoredMessage, original_body: str,
                      attachments: Sequence[Attachment] = (), *, raw: RawInput | None = None) -> Reply:
    """Parse, check access, and run a stored command message; usage errors and refusals become one polite line.

    `original_body` and `attachments` are the redacted text; `raw` (as sent) reaches only a command
    registered with `raw_input=True`.
    """
    prefix = engine.config.bot.command_prefix
    parsed = CommandRegistry.parse(original_body, prefix)
    assert parsed is not None
    spec = engine.commands.get(parsed.name)

    def reply(text: str, ok: bool, refused: bool = False, thread_id: str | None = None) -> Reply:
        engine.stats.commands += 1
        engine.bus.publish(CommandHandled(stored.room_id, parsed.name, stored.sender, ok, refused))
        return Reply(
            room_id=stored.room_id,
            body=text,
            kind="command",
            thread_id=thread_id or stored.thread_id,
            in_reply_to=stored.event_id,
        )

    if spec is None:
        suggestions = engine.commands.suggest(parsed.name)
        hint = (" Did you mean " + ", ".join(f"`{prefix}{s}`" for s in suggestions) + "?") if suggestions else ""
        return reply(f"Unknown command `{prefix}{parsed.name}`.{hint} Try `{prefix}help`.", ok=False)
    full_name = spec.name + (" " + parsed.argv[0] if parsed.argv else "")
    decision = engine.access.check(full_name, stored.sender, stored.room_id, admin_only=spec.admin_only)
    if not decision.allowed:
        return reply(f"Sorry, {decision.reason}.", ok=False, refused=True)
    invocation, body = parsed, original_body
    if spec.raw_input and raw is not None:
        raw_parsed = CommandRegistry.parse(raw.body, prefix)
        if raw_parsed is not None:
            invocation, body, attachments = raw_parsed, raw.body, raw.attachments
    context = CommandContext(
        engine, stored, spec.name, invocation.args, invocation.argv, body, attachments=list(attachments)
    )
    try:
        result = await spec.handler(context)
    except CommandError as exc:
        usage = f" Usage: `{prefix}{spec.usage or spec.name}`" if spec.usage or spec.name else ""
        return reply(f"{exc}.{usage}".replace("..", "."), ok=False)
    if isinstance(result, str):
        result = CommandResult(result)
    return reply(result.text, ok=result.ok, refused=bool(result.data.get("refused")), thread_id=result.thread_id)
