"""Typed command arguments: declare them once, get parsing, one-line usage errors and help text.

A command declares its arguments as `Arg`s; `parse_arguments` turns the words after the command
name into a dict of converted values, or raises `CommandError` naming the argument and the fix.

Rules (kept small so people can predict them):
- positional arguments are filled in order; a *required* one that is missing is an error;
- an *optional* positional (one with a default) is filled only when the next word fits its type
  (so `!incident role INC-3 @bob scribe` and `!incident role @bob scribe` both work);
- a *greedy* argument takes the rest of the line as typed (quotes kept unless the whole rest is quoted);
- *options* are written `--name VALUE`, `--name=VALUE`, or `--name` / `--no-name` for booleans;
  options are only recognised when the command declares some, and a bare `--` ends them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hololoom_core.text.durations import parse_duration as parse_duration_text


class CommandError(Exception):
    """A usage problem the asker should see as one line (bad arguments, unknown target).

    `show_usage=False` leaves the command's usage line off (for problems that are not about syntax,
    such as "no incident INC-9").
    """

    def __init__(self, message: str, *, show_usage: bool = True) -> None:
        super().__init__(message)
        self.show_usage = show_usage


class _Required:
    """Marker for an argument without a default."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True, slots=True)
class ArgType:
    """A named converter from one word to a value; `convert` raises ValueError with a short reason."""

    name: str
    convert: Callable[[str], Any]
    metavar: str = ""
    names_positional: bool = False  # True: usage lines show the metavar (INC-N) instead of the argument's name


def _to_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"must be a whole number, got '{text}'")


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"must be a number, got '{text}'")


_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be yes or no, got '{text}'")


_USER = re.compile(r"^@[A-Za-z0-9._=/+\-]+(?::[A-Za-z0-9.\-]+(?::\d+)?)?$")


def _to_user(text: str) -> str:
    """`@alice:example.org` stays as it is (Matrix); `@alice` becomes `alice` (a simulated-room user)."""
    if not _USER.match(text):
        raise ValueError(f"must be a user such as @alice or @alice:example.org, got '{text}'")
    return text if ":" in text else text[1:]


def parse_duration(text: str) -> float:
    """Seconds from `90s`, `5m`, `2h`, `1d`, `1h30m` or a bare number of seconds (the rules of `text.durations`)."""
    try:
        return parse_duration_text(text)
    except ValueError:
        raise ValueError(f"must be a duration such as 90s, 5m, 2h or 1h30m, got '{text}'") from None


STRING = ArgType("text", str, "TEXT")
INTEGER = ArgType("integer", _to_int, "N")
NUMBER = ArgType("number", _to_float, "X")
BOOLEAN = ArgType("yes/no", _to_bool, "yes|no")
USER = ArgType("user", _to_user, "@USER")
DURATION = ArgType("duration", parse_duration, "DURATION")

_BY_PYTHON_TYPE: dict[Any, ArgType] = {str: STRING, int: INTEGER, float: NUMBER, bool: BOOLEAN}


def as_arg_type(kind: ArgType | type | Callable[[str], Any]) -> ArgType:
    """An `ArgType` for a Python type (str, int, float, bool), an `ArgType`, or any converter function."""
    if isinstance(kind, ArgType):
        return kind
    if kind in _BY_PYTHON_TYPE:
        return _BY_PYTHON_TYPE[kind]
    name = getattr(kind, "__name__", "value").strip("_").replace("_", " ") or "value"
    return ArgType(name, kind)


@dataclass(frozen=True, slots=True)
class Arg:
    """One typed argument of a command: name, type, help, default, choices, greedy or option."""

    name: str
    type: Any = str
    help: str = ""
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()
    greedy: bool = False
    option: bool = False
    metavar: str | None = None

    @property
    def required(self) -> bool:
        """True when the argument has no default."""
        return self.default is REQUIRED

    @property
    def kind(self) -> ArgType:
        """The converter of this argument."""
        return as_arg_type(self.type)

    @property
    def display(self) -> str:
        """How the argument is written in usage lines: `SERVICE`, `[--timeout DURATION]`, `TITLE...`."""
        if self.option:
            flag = f"--{self.name.replace('_', '-')}"
            inner = flag if self.kind is BOOLEAN else f"{flag} {self.metavar or self.kind.metavar or 'VALUE'}"
            return inner if self.required else f"[{inner}]"
        if self.choices:
            core = self.metavar or "|".join(self.choices)
        elif self.kind.names_positional and self.kind.metavar:
            core = self.metavar or self.kind.metavar
        else:
            core = self.metavar or self.name.upper().replace("_", "-")
        if self.greedy:
            core += "..."
        return core if self.required else f"[{core}]"

    def convert(self, text: str) -> Any:
        """Convert one word (or the greedy rest), checking choices; raises ValueError with a reason."""
        if self.choices:
            lowered = text.lower()
            for choice in self.choices:
                if choice.lower() == lowered:
                    return choice
            raise ValueError(f"must be one of {', '.join(self.choices)}, got '{text}'")
        return self.kind.convert(text)

    def describe(self) -> str:
        """One help line: name, type, default and help."""
        parts = [f"`{self.display.strip('[]')}`"]
        kind = "one of " + ", ".join(self.choices) if self.choices else self.kind.name
        if self.greedy:
            kind += ", rest of the line"
        parts.append(f"({kind}{'' if self.required else ', optional'})")
        if self.help:
            parts.append(f"— {self.help}")
        if not self.required and self.default not in (None, "", REQUIRED, False):
            parts.append(f"(default {self.default})")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Token:
    """A word of the argument text and where it starts in that text."""

    text: str
    start: int
    end: int


def tokenize(raw: str) -> list[Token]:
    """Split on whitespace, honouring "double" and 'single' quotes; unbalanced quotes are kept as text."""
    tokens: list[Token] = []
    index = 0
    length = len(raw)
    while index < length:
        while index < length and raw[index].isspace():
            index += 1
        if index >= length:
            break
        start = index
        pieces: list[str] = []
        while index < length and not raw[index].isspace():
            char = raw[index]
            if char in "\"'":
                closing = raw.find(char, index + 1)
                if closing == -1:
                    pieces.append(raw[index:])
                    index = length
                    break
                pieces.append(raw[index + 1 : closing])
                index = closing + 1
            else:
                pieces.append(char)
                index += 1
        tokens.append(Token("".join(pieces), start, index))
    return tokens


def _unquote_rest(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and text[0] not in text[1:-1]:
        return text[1:-1]
    return text


def usage_line(name: str, arguments: Sequence[Arg]) -> str:
    """`name ARG [OPTIONAL] [--flag VALUE]` built from the declared arguments."""
    positionals = [arg.display for arg in arguments if not arg.option]
    options = [arg.display for arg in arguments if arg.option]
    return " ".join([name, *positionals, *options])


def _option_names(arguments: Sequence[Arg]) -> dict[str, Arg]:
    return {arg.name.replace("_", "-").lower(): arg for arg in arguments if arg.option}


def parse_arguments(arguments: Sequence[Arg], raw: str) -> dict[str, Any]:
    """Parse the argument text of one invocation into converted values (defaults filled in)."""
    tokens = tokenize(raw)
    values: dict[str, Any] = {}
    options = _option_names(arguments)
    if options:
        tokens = _take_options(tokens, options, values)
    positionals = [arg for arg in arguments if not arg.option]
    position = 0
    last_skipped: tuple[Arg, str] | None = None
    for arg in positionals:
        if arg.greedy:
            if position < len(tokens):
                if options:  # options were taken out of the middle: rebuild the rest from its words
                    rest = " ".join(token.text for token in tokens[position:])
                else:
                    rest = _unquote_rest(raw[tokens[position].start :])
                try:
                    values[arg.name] = arg.convert(rest)
                except ValueError as exc:
                    raise CommandError(f"{arg.display.strip('[]')} {exc}")
                position = len(tokens)
            elif arg.required:
                raise CommandError(f"missing {arg.display}")
            else:
                values[arg.name] = arg.default
            continue
        if position >= len(tokens):
            if arg.required:
                raise CommandError(f"missing {arg.display}")
            values[arg.name] = arg.default
            continue
        word = tokens[position].text
        try:
            values[arg.name] = arg.convert(word)
            position += 1
        except ValueError as exc:
            if arg.required:
                raise CommandError(f"{arg.display} {exc}")
            values[arg.name] = arg.default
            last_skipped = (arg, str(exc))
    if position < len(tokens):
        if last_skipped is not None and last_skipped[1].endswith(f"'{tokens[position].text}'"):
            arg, problem = last_skipped
            raise CommandError(f"{arg.display.strip('[]')} {problem}")
        extra = " ".join(token.text for token in tokens[position:])
        raise CommandError(f"unexpected argument(s) '{extra}'")
    for arg in arguments:
        if arg.option and arg.name not in values:
            if arg.required:
                raise CommandError(f"missing {arg.display}")
            values[arg.name] = arg.default
    return values


def _take_options(tokens: list[Token], options: dict[str, Arg], values: dict[str, Any]) -> list[Token]:
    """Remove `--name value` options from the tokens, storing their converted values."""
    remaining: list[Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.text == "--":
            remaining.extend(tokens[index + 1 :])
            break
        if not token.text.startswith("--") or len(token.text) < 3:
            remaining.append(token)
            index += 1
            continue
        flag, has_value, inline_value = token.text[2:].partition("=")
        flag = flag.lower()
        negated = flag.startswith("no-") and flag[3:] in options and options[flag[3:]].kind is BOOLEAN
        arg = options.get(flag[3:] if negated else flag)
        if arg is None:
            known = ", ".join(f"--{name}" for name in options)
            raise CommandError(f"unknown option --{flag} (known: {known})")
        if arg.kind is BOOLEAN and not has_value:
            values[arg.name] = not negated
            index += 1
            continue
        if has_value:
            text = inline_value
            index += 1
        else:
            if index + 1 >= len(tokens):
                raise CommandError(f"option --{flag} needs a value")
            text = tokens[index + 1].text
            index += 2
        try:
            values[arg.name] = arg.convert(text)
        except ValueError as exc:
            raise CommandError(f"--{flag} {exc}")
    return remaining
