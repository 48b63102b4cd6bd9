"""YAML command aliases in the style of StackStorm action aliases: chat phrases mapped to workflows or commands.

An alias file holds one alias, or a list under `aliases:`:

    aliases:
      - name: restart-service
        help: Restart a service through the restart workflow.
        formats:                                   # the first word is the command (!restart ...)
          - "restart {{service}} on {{host}}"
          - "restart {{service}} on {{host=all}}"  # `=value` makes the placeholder (and the words
        workflow: restart-service                  #  right before it) optional, with that default
        args: {reason: "asked in chat by {{user}}"} # extra arguments (templated)
        reply: "Restarting {{service}} on {{host}}: {{result}}"
        permission: deploy                         # optional; admin_only: true also works

Instead of `workflow:` an alias may name a `command:` template, e.g.
`command: "incident declare {{title}} sev1"`. A placeholder matches one word (or a "quoted
phrase"); the last placeholder of a format takes the rest of the line. Reply templates may use
the placeholders, the `args`, `{{result}}`, `{{user}}` and `{{room}}`.

A malformed file or alias entry is reported as one line naming the file, the line and the
problem; every other alias keeps working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hololoom_core.engine.commands import CommandContext, CommandError, CommandResult, CommandSpec, Handler
from hololoom_core.packages import package_folders
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml, yaml_line

if TYPE_CHECKING:
    from hololoom_core.config import Config
    from hololoom_core.engine.pipeline import Engine


class WorkflowStarter(Protocol):
    """What a workflow alias asks of the workflow engine (the workflows capability provides it)."""

    async def start_run(self, name: str, args: dict[str, str], *, user: str, room_id: str,
                        thread_id: str | None) -> Any:
        """Start a run of workflow `name`; returns what the alias reply shows as `{result}`."""
        ...

ALIAS_KEYS = {"name", "help", "description", "formats", "workflow", "command", "args", "reply", "permission",
              "admin_only", "group"}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=\s*([^}]*?)\s*)?\}\}")
_TEMPLATE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_WORD = r'(?:"[^"]*"|\'[^\']*\'|\S+)'
_COMMAND_WORD = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
RESERVED_FIELDS = {"result", "user", "room"}


class AliasError(Exception):
    """A problem in an alias file, as one line: `file:line: problem`."""


@dataclass(frozen=True, slots=True)
class AliasFormat:
    """One accepted phrase of an alias, compiled to a regular expression."""

    text: str
    command: str
    regex: re.Pattern[str]
    placeholders: tuple[str, ...]
    defaults: dict[str, str]
    literal_words: int
    display: str = ""


@dataclass(slots=True)
class Alias:
    """A chat phrase (or several) mapped to a workflow or a command, with a reply template."""

    name: str
    help: str
    formats: list[AliasFormat]
    workflow: str | None
    command: str | None
    args: dict[str, str]
    reply: str
    permission: str | None
    admin_only: bool
    group: str
    source: str

    @property
    def command_word(self) -> str:
        """The word after the prefix that invokes this alias."""
        return self.formats[0].command


@dataclass(slots=True)
class AliasSet:
    """Every alias loaded, and the one-line problems of the ones that could not be."""

    aliases: list[Alias] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def compile_format(text: str) -> AliasFormat:
    """Compile `restart {{service}} on {{host=all}}` into a matcher; raises ValueError with the problem."""
    stripped = " ".join(text.split())
    first = stripped.split(" ", 1)[0] if stripped else ""
    if not first or _PLACEHOLDER.search(first) or not _COMMAND_WORD.match(first.lower()):
        raise ValueError(f"format '{text}' must start with a command word (letters, digits, - or _)")
    pieces: list[tuple[str, str]] = []  # ("literal", words) or ("placeholder", name)
    position = 0
    names: list[str] = []
    defaults: dict[str, str] = {}
    for match in _PLACEHOLDER.finditer(stripped):
        literal = stripped[position : match.start()]
        if literal.strip():
            pieces.append(("literal", literal.strip()))
        name = match.group(1)
        if name in names:
            raise ValueError(f"format '{text}' uses {{{{{name}}}}} twice")
        if name in RESERVED_FIELDS:
            raise ValueError(f"format '{text}': '{name}' is reserved for replies; rename the placeholder")
        names.append(name)
        if match.group(2) is not None:
            defaults[name] = match.group(2)
        pieces.append(("placeholder", name))
        position = match.end()
    tail = stripped[position:]
    if "{{" in tail or "}}" in tail:
        raise ValueError(f"format '{text}' has a malformed placeholder (use {{{{name}}}} or {{{{name=default}}}})")
    if tail.strip():
        pieces.append(("literal", tail.strip()))
    last_placeholder = max((i for i, (kind, _) in enumerate(pieces) if kind == "placeholder"), default=-1)
    pattern = ""
    shown: list[str] = []
    literal_words = 0
    index = 0
    while index < len(pieces):
        kind, value = pieces[index]
        if kind == "literal":
            literal_words += len(value.split())
            words = r"\s+".join(re.escape(word) for word in value.split())
            following = pieces[index + 1] if index + 1 < len(pieces) else None
            if following and following[0] == "placeholder" and following[1] in defaults and index > 0:
                body = _placeholder_pattern(following[1], index + 1 == last_placeholder)
                pattern += rf"(?:\s+{words}\s+{body})?"
                shown.append(f"[{value} {following[1].upper()}]")
                index += 2
                continue
            pattern += (r"\s+" if pattern else "") + words
            shown.append(value)
        else:
            body = _placeholder_pattern(value, index == last_placeholder)
            pattern += rf"(?:\s+{body})?" if value in defaults else rf"\s+{body}"
            shown.append(f"[{value.upper()}]" if value in defaults else value.upper())
        index += 1
    regex = re.compile(rf"^{pattern}\s*$", re.I | re.S)
    return AliasFormat(stripped, first.lower(), regex, tuple(names), defaults, literal_words, " ".join(shown))


def _placeholder_pattern(name: str, last: bool) -> str:
    return rf"(?P<{name}>.+?)" if last else rf"(?P<{name}>{_WORD})"


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def render_template(template: str, values: dict[str, Any]) -> str:
    """Fill `{{name}}` fields (unknown ones become empty)."""
    return _TEMPLATE_FIELD.sub(lambda match: str(values.get(match.group(1), "")), template)


def _problem(source: str, line: int | None, text: str) -> str:
    return f"{source}:{line}: {text}" if line else f"{source}: {text}"


def parse_alias_entry(data: Any, source: str, line: int | None) -> Alias:
    """Validate one alias mapping; raises AliasError (one line) on the first problem."""
    if not isinstance(data, dict):
        raise AliasError(_problem(source, line, "an alias must be a mapping with name, formats and workflow/command"))
    unknown = sorted(set(data) - ALIAS_KEYS)
    if unknown:
        raise AliasError(_problem(source, line, f"unknown key '{unknown[0]}' (known: {', '.join(sorted(ALIAS_KEYS))})"))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AliasError(_problem(source, line, "the alias needs a 'name'"))
    formats_data = data.get("formats")
    if isinstance(formats_data, str):
        formats_data = [formats_data]
    if not isinstance(formats_data, list) or not formats_data or not all(isinstance(f, str) for f in formats_data):
        raise AliasError(_problem(source, line, f"alias '{name}': 'formats' must be a list of phrases"))
    try:
        formats = [compile_format(text) for text in formats_data]
    except ValueError as exc:
        raise AliasError(_problem(source, line, f"alias '{name}': {exc}"))
    words = {compiled.command for compiled in formats}
    if len(words) > 1:
        raise AliasError(_problem(source, line, f"alias '{name}': every format must start with the same word "
                                                f"(found {', '.join(sorted(words))})"))
    workflow, command = data.get("workflow"), data.get("command")
    if bool(workflow) == bool(command):
        raise AliasError(_problem(source, line, f"alias '{name}': give exactly one of 'workflow' or 'command'"))
    for key, value in (("workflow", workflow), ("command", command), ("reply", data.get("reply", "")),
                       ("help", data.get("help", data.get("description", "")))):
        if value is not None and not isinstance(value, str):
            raise AliasError(_problem(source, line, f"alias '{name}': '{key}' must be text"))
    args = data.get("args") or {}
    if not isinstance(args, dict) or not all(isinstance(k, str) and isinstance(v, (str, int, float, bool))
                                             for k, v in args.items()):
        raise AliasError(_problem(source, line, f"alias '{name}': 'args' must map names to text"))
    known_fields = set(RESERVED_FIELDS) | set(args) | {p for f in formats for p in f.placeholders}
    for key, template in (("reply", data.get("reply") or ""), ("command", command or ""),
                          *((f"args.{k}", str(v)) for k, v in args.items())):
        for field_name in _TEMPLATE_FIELD.findall(template):
            if field_name not in known_fields:
                raise AliasError(_problem(source, line, f"alias '{name}': {key} uses {{{{{field_name}}}}}, which no "
                                                        "format or arg defines"))
    permission = data.get("permission")
    if permission is not None and not isinstance(permission, str):
        raise AliasError(_problem(source, line, f"alias '{name}': 'permission' must be a name"))
    return Alias(
        name=name.strip(),
        help=str(data.get("help") or data.get("description") or f"Alias for {'workflow' if workflow else 'command'} "
                 f"`{workflow or command}`."),
        formats=sorted(formats, key=lambda f: (f.literal_words, len(f.placeholders)), reverse=True),
        workflow=workflow,
        command=command,
        args={key: str(value) for key, value in args.items()},
        reply=str(data.get("reply") or "{{result}}"),
        permission=permission,
        admin_only=bool(data.get("admin_only", False)),
        group=str(data.get("group") or "aliases"),
        source=source,
    )


def parse_alias_file(text: str, source: str) -> AliasSet:
    """All aliases of one file; each bad entry becomes one problem line and the rest still load."""
    result = AliasSet()
    try:
        data, document = parse_yaml(text)
    except YamlSyntaxError as exc:
        result.problems.append(_problem(source, exc.line, f"YAML syntax error ({exc.problem})"))
        return result
    if data is None:
        return result
    if isinstance(data, dict) and "aliases" in data:
        entries = data["aliases"]
        if not isinstance(entries, list):
            result.problems.append(_problem(source, yaml_line(document, ("aliases",)), "'aliases' must be a list"))
            return result
        located = [(entry, yaml_line(document, ("aliases", index))) for index, entry in enumerate(entries)]
    else:
        located = [(data, 1)]
    for entry, line in located:
        try:
            result.aliases.append(parse_alias_entry(entry, source, line))
        except AliasError as exc:
            result.problems.append(str(exc))
    return result


def load_alias_directory(directory: Path) -> AliasSet:
    """Every `*.yaml` / `*.yml` alias file in a directory (missing directory: nothing, no problem)."""
    result = AliasSet()
    if not directory.is_dir():
        return result
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            result.problems.append(f"{path}: cannot read ({exc})")
            continue
        loaded = parse_alias_file(text, str(path))
        result.aliases.extend(loaded.aliases)
        result.problems.extend(loaded.problems)
    return result


def load_all_aliases(config: Config) -> AliasSet:
    """The user's alias folder, then every installed marketplace package's `aliases/` folder."""
    merged = load_alias_directory(config.aliases_dir)
    for _package, folder in package_folders(config.data_dir, "aliases"):
        loaded = load_alias_directory(folder)
        merged.aliases.extend(loaded.aliases)
        merged.problems.extend(loaded.problems)
    return merged


class AliasCommands:
    """Registers loaded aliases as commands and runs them (workflow through the workflows extension)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.aliases: list[Alias] = []
        self.problems: list[str] = []
        self._registered: set[str] = set()

    def install(self, loaded: AliasSet) -> None:
        """Register `loaded` (replacing what this object registered before)."""
        registry = self.engine.commands
        for word in self._registered:
            registry.unregister(word)
        self._registered = set()
        self.aliases, self.problems = [], list(loaded.problems)
        by_word: dict[str, list[Alias]] = {}
        for alias in loaded.aliases:
            existing = registry.get(alias.command_word)
            if existing is not None and alias.command_word not in by_word:
                self.problems.append(f"{alias.source}: alias '{alias.name}': `{alias.command_word}` is already a "
                                     f"command (`{existing.name}`); start its formats with another word")
                continue
            by_word.setdefault(alias.command_word, []).append(alias)
            self.aliases.append(alias)
        for word, aliases in by_word.items():
            usage = " | ".join(fmt.display for alias in aliases for fmt in alias.formats)
            spec = CommandSpec(word, self._runner(word), "; ".join(dict.fromkeys(a.help for a in aliases)),
                               usage=usage, group=aliases[0].group,
                               admin_only=all(a.admin_only for a in aliases),
                               permission=aliases[0].permission if len(aliases) == 1 else None)
            spec.also_checks = tuple(dict.fromkeys(
                "workflow run" if alias.workflow else
                " ".join(word for word in (alias.command or "").split()[:2] if "{{" not in word)
                for alias in aliases))
            registry.register(spec)
            self._registered.add(word)
        for problem in self.problems:
            self.engine.report_error("aliases", problem)

    def _runner(self, word: str) -> Handler:
        async def run_alias(context: CommandContext) -> CommandResult:
            return await self.run(word, context)

        return run_alias

    def match(self, word: str, text: str) -> tuple[Alias, dict[str, str]] | None:
        """The first alias format (most specific first) matching `word args`, with its values."""
        candidates = [(alias, fmt) for alias in self.aliases if alias.command_word == word for fmt in alias.formats]
        candidates.sort(key=lambda pair: (pair[1].literal_words, len(pair[1].placeholders)), reverse=True)
        for alias, fmt in candidates:
            found = fmt.regex.match(text)
            if found:
                values = {name: _unquote(value) for name, value in found.groupdict().items() if value is not None}
                for name, default in fmt.defaults.items():
                    values.setdefault(name, default)
                return alias, values
        return None

    async def run(self, word: str, context: CommandContext) -> CommandResult:
        """Match the phrase, check the alias's permission, run its workflow or command, fill the reply."""
        engine = self.engine
        text = f"{word} {context.args}".strip()
        found = self.match(word, text)
        prefix = context.prefix
        if found is None:
            formats = " | ".join(f"`{prefix}{fmt.display}`" for a in self.aliases if a.command_word == word
                                 for fmt in a.formats)
            raise CommandError(f"`{prefix}{text}` matches none of: {formats}", show_usage=False)
        alias, values = found
        decision = engine.access.check(word, context.user, context.room_id, admin_only=alias.admin_only,
                                       permission=alias.permission)
        if not decision.allowed:
            return CommandResult(f"Sorry, {decision.reason}.", ok=False, data={"refused": True})
        fields = {**values, "user": context.user, "room": context.room_id}
        args = {**values, **{key: render_template(value, fields) for key, value in alias.args.items()}}
        fields.update(args)
        if alias.workflow:
            workflows = engine.find_capability(WorkflowStarter)
            if workflows is None:
                shown = ", ".join(f"{key}={value}" for key, value in args.items()) or "no arguments"
                return CommandResult(f"Workflows are not installed, so alias `{alias.name}` cannot start workflow "
                                     f"`{alias.workflow}` ({shown}).", ok=False)
            result = await workflows.start_run(alias.workflow, args, user=context.user, room_id=context.room_id,
                                               thread_id=context.message.thread_id)
            fields["result"] = result
            return CommandResult(render_template(alias.reply, fields))
        assert alias.command is not None
        reply = await self._run_command(render_template(alias.command, fields), context)
        fields["result"] = reply.text
        return CommandResult(render_template(alias.reply, fields), ok=reply.ok, thread_id=reply.thread_id,
                             data=reply.data)

    async def _run_command(self, command_text: str, context: CommandContext) -> CommandResult:
        engine = self.engine
        prefix = context.prefix
        parsed = engine.commands.parse(prefix + command_text.strip(), prefix)
        spec = engine.commands.get(parsed.name) if parsed else None
        if parsed is None or spec is None:
            return CommandResult(f"The alias points at `{prefix}{command_text}`, which is not a command.", ok=False)
        if spec.name in self._registered:
            return CommandResult(f"The alias points at another alias (`{prefix}{spec.name}`); aliases cannot "
                                 "chain.", ok=False)
        full_name = spec.name + (" " + parsed.argv[0] if parsed.argv else "")
        decision = engine.access.check(full_name, context.user, context.room_id, admin_only=spec.admin_only)
        if not decision.allowed:
            return CommandResult(f"Sorry, {decision.reason}.", ok=False, data={"refused": True})
        inner = CommandContext(engine, context.message, spec.name, parsed.args, parsed.argv, context.original_body)
        try:
            result = await spec.handler(inner)
        except CommandError as exc:
            return CommandResult(str(exc), ok=False)
        return result if isinstance(result, CommandResult) else CommandResult(result)
