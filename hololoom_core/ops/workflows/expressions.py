"""A small, safe expression language for workflow conditions and `{{ }}` templates (no eval).

Conditions read like `approval == 'approved' and severity in ['sev1', 'sev2']`. Supported:
literals (strings, numbers, true/false/null, lists), variables with dots (`incident.id`),
comparisons (== != < <= > >=), `in`, `not in`, `contains`, `matches` (regular expression),
`and`, `or`, `not`, `A if CONDITION else B`, parentheses, and the functions len, lower, upper, int,
float, str.
Expressions are parsed once into a tree of tuples and evaluated against a dict of variables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hololoom_core.text.linear import LinearRegexError, linear_search


class ExpressionError(ValueError):
    """A condition or template that does not parse, or fails when evaluated; the message is one line."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    )""",
    re.X,
)
_KEYWORDS = {"and", "or", "not", "in", "contains", "matches", "true", "false", "null", "none", "if", "else"}
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "len": len,
    "lower": lambda value: str(value).lower(),
    "upper": lambda value: str(value).upper(),
    "int": int,
    "float": float,
    "str": lambda value: render_value(value),
}
_MAX_PATTERN = 300


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            rest = source[position:]
            offset = position + len(rest) - len(rest.lstrip())
            raise ExpressionError(f"unexpected character {source[offset]!r} at position {offset + 1}")
        kind = match.lastgroup or "op"
        text, start = match.group(kind), match.start(kind)
        if kind == "name" and text.lower() in _KEYWORDS:
            kind, text = "keyword", text.lower()
        tokens.append(_Token(kind, text, start))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the token list; produces nested tuples."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.index = 0

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise ExpressionError("the expression ends too early")
        self.index += 1
        return token

    def accept(self, kind: str, text: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == kind and token.text == text:
            self.index += 1
            return True
        return False

    def expect(self, kind: str, text: str) -> None:
        if not self.accept(kind, text):
            token = self.peek()
            found = f"'{token.text}'" if token else "the end"
            raise ExpressionError(f"expected '{text}' but found {found}")

    def parse(self) -> tuple[Any, ...]:
        if not self.tokens:
            raise ExpressionError("the expression is empty")
        tree = self.parse_conditional()
        token = self.peek()
        if token is not None:
            raise ExpressionError(f"unexpected '{token.text}' at position {token.position + 1}")
        return tree

    def parse_conditional(self) -> tuple[Any, ...]:
        value = self.parse_or()
        if self.accept("keyword", "if"):
            condition = self.parse_or()
            self.expect("keyword", "else")
            return ("choose", condition, value, self.parse_conditional())
        return value

    def parse_or(self) -> tuple[Any, ...]:
        tree = self.parse_and()
        while self.accept("keyword", "or"):
            tree = ("or", tree, self.parse_and())
        return tree

    def parse_and(self) -> tuple[Any, ...]:
        tree = self.parse_not()
        while self.accept("keyword", "and"):
            tree = ("and", tree, self.parse_not())
        return tree

    def parse_not(self) -> tuple[Any, ...]:
        if self.accept("keyword", "not"):
            return ("not", self.parse_not())
        return self.parse_comparison()

    def parse_comparison(self) -> tuple[Any, ...]:
        left = self.parse_value()
        token = self.peek()
        if token is None:
            return left
        if token.kind == "op" and token.text in ("==", "!=", "<", "<=", ">", ">="):
            self.index += 1
            return ("compare", token.text, left, self.parse_value())
        if token.kind == "keyword" and token.text in ("in", "contains", "matches"):
            self.index += 1
            return ("compare", token.text, left, self.parse_value())
        if token.kind == "keyword" and token.text == "not":
            following = self.peek(1)
            if following is not None and following.kind == "keyword" and following.text == "in":
                self.index += 2
                return ("compare", "not in", left, self.parse_value())
        return left

    def parse_value(self) -> tuple[Any, ...]:
        token = self.take()
        if token.kind == "number":
            return ("literal", float(token.text) if "." in token.text else int(token.text))
        if token.kind == "string":
            return ("literal", _unquote(token.text))
        if token.kind == "keyword" and token.text in ("true", "false"):
            return ("literal", token.text == "true")
        if token.kind == "keyword" and token.text in ("null", "none"):
            return ("literal", None)
        if token.kind == "op" and token.text == "(":
            tree = self.parse_conditional()
            self.expect("op", ")")
            return tree
        if token.kind == "op" and token.text == "[":
            items: list[tuple[Any, ...]] = []
            if not self.accept("op", "]"):
                items.append(self.parse_or())
                while self.accept("op", ","):
                    items.append(self.parse_or())
                self.expect("op", "]")
            return ("list", items)
        if token.kind == "name":
            following = self.peek()
            if following is not None and following.kind == "op" and following.text == "(":
                if token.text not in _FUNCTIONS:
                    raise ExpressionError(
                        f"unknown function '{token.text}' (known: {', '.join(sorted(_FUNCTIONS))})"
                    )
                self.index += 1
                argument = self.parse_or()
                self.expect("op", ")")
                return ("call", token.text, argument)
            return ("variable", token.text)
        raise ExpressionError(f"unexpected '{token.text}' at position {token.position + 1}")


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression; `evaluate(variables)` computes its value."""

    source: str
    tree: tuple[Any, ...]

    def evaluate(self, variables: dict[str, Any]) -> Any:
        """The value of the expression; unknown variables and type mismatches raise `ExpressionError`."""
        return _evaluate(self.tree, variables)

    def truth(self, variables: dict[str, Any]) -> bool:
        """The expression as a condition."""
        return bool(self.evaluate(variables))


def parse_expression(source: str) -> Expression:
    """Parse a condition; syntax errors raise `ExpressionError` naming what went wrong."""
    return Expression(source, _Parser(source).parse())


def lookup(variables: dict[str, Any], dotted: str) -> Any:
    """The value of `a.b.c` in nested dicts (and list indexes); unknown names raise `ExpressionError`."""
    current: Any = variables
    walked: list[str] = []
    for part in dotted.split("."):
        walked.append(part)
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise ExpressionError(f"unknown variable '{'.'.join(walked)}'")
    return current


def _evaluate(tree: tuple[Any, ...], variables: dict[str, Any]) -> Any:
    kind = tree[0]
    if kind == "literal":
        return tree[1]
    if kind == "variable":
        return lookup(variables, tree[1])
    if kind == "list":
        return [_evaluate(item, variables) for item in tree[1]]
    if kind == "and":
        left = _evaluate(tree[1], variables)
        return _evaluate(tree[2], variables) if left else left
    if kind == "or":
        left = _evaluate(tree[1], variables)
        return left if left else _evaluate(tree[2], variables)
    if kind == "not":
        return not _evaluate(tree[1], variables)
    if kind == "choose":
        return _evaluate(tree[2] if _evaluate(tree[1], variables) else tree[3], variables)
    if kind == "call":
        value = _evaluate(tree[2], variables)
        try:
            return _FUNCTIONS[tree[1]](value)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"{tree[1]}() cannot take {render_value(value)!r} ({exc})")
    if kind == "compare":
        return _compare(tree[1], _evaluate(tree[2], variables), _evaluate(tree[3], variables))
    raise ExpressionError(f"cannot evaluate {kind}")


def _compare(operator: str, left: Any, right: Any) -> bool:
    try:
        if operator == "==":
            return bool(left == right)
        if operator == "!=":
            return bool(left != right)
        if operator == "<":
            return bool(left < right)
        if operator == "<=":
            return bool(left <= right)
        if operator == ">":
            return bool(left > right)
        if operator == ">=":
            return bool(left >= right)
        if operator == "in":
            return left in right if right is not None else False
        if operator == "not in":
            return left not in right if right is not None else True
        if operator == "contains":
            return right in left if left is not None else False
        if operator == "matches":
            pattern = str(right)
            if len(pattern) > _MAX_PATTERN:
                raise ExpressionError(f"regular expression longer than {_MAX_PATTERN} characters")
            try:  # RE2: linear time, so `'^(a+)+$'` on a long text cannot stall the engine
                return linear_search(pattern, render_value(left))
            except LinearRegexError as exc:
                raise ExpressionError(f"bad regular expression {right!r} ({_re2_problem(exc)}; RE2 syntax: "
                                      "no backreferences or lookarounds)")
    except TypeError:
        raise ExpressionError(
            f"cannot apply '{operator}' to {type(left).__name__} {render_value(left)!r} and "
            f"{type(right).__name__} {render_value(right)!r}"
        )
    except re.error as exc:
        raise ExpressionError(f"bad regular expression {right!r} ({exc})")
    raise ExpressionError(f"unknown operator '{operator}'")


def _re2_problem(error: Exception) -> str:
    """RE2's message as text (it reports bytes)."""
    detail = error.args[0] if error.args else error
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


# -- templates --------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)


@dataclass(frozen=True, slots=True)
class Template:
    """Text with `{{ expression }}` placeholders, parsed once."""

    source: str
    parts: tuple[str | Expression, ...]

    @property
    def is_single_expression(self) -> bool:
        """True for a template that is exactly one placeholder (it then keeps the value's type)."""
        return len(self.parts) == 1 and isinstance(self.parts[0], Expression)

    @property
    def has_placeholders(self) -> bool:
        """True when anything in the text is computed."""
        return any(isinstance(part, Expression) for part in self.parts)

    def render(self, variables: dict[str, Any]) -> str:
        """The text with every placeholder replaced by its value."""
        return "".join(part if isinstance(part, str) else render_value(part.evaluate(variables)) for part in self.parts)

    def value(self, variables: dict[str, Any]) -> Any:
        """Like `render`, but a template that is one placeholder returns the value itself (list, number...)."""
        if self.is_single_expression:
            part = self.parts[0]
            assert isinstance(part, Expression)
            return part.evaluate(variables)
        return self.render(variables)


def parse_template(source: str) -> Template:
    """Parse `{{ }}` placeholders; a bad placeholder raises `ExpressionError` naming it."""
    whole = _PLACEHOLDER.fullmatch(source.strip())
    if whole is not None and "{{" not in whole.group(1) and "}}" not in whole.group(1):
        return Template(source, (_parse_placeholder(whole.group(1)),))
    parts: list[str | Expression] = []
    position = 0
    for match in _PLACEHOLDER.finditer(source):
        if match.start() > position:
            parts.append(source[position : match.start()])
        parts.append(_parse_placeholder(match.group(1)))
        position = match.end()
    rest = source[position:]
    if "{{" in rest:
        raise ExpressionError("a '{{' placeholder is not closed with '}}'")
    if rest:
        parts.append(rest)
    return Template(source, tuple(parts))


def _parse_placeholder(inner: str) -> Expression:
    try:
        return parse_expression(inner.strip())
    except ExpressionError as exc:
        raise ExpressionError(f"in placeholder '{{{{{inner}}}}}': {exc}")


def split_command(command: str) -> list[str]:
    """Split a shell-like command into arguments, keeping each `{{ }}` placeholder inside its argument."""
    import shlex

    placeholders: list[str] = []

    def protect(match: re.Match[str]) -> str:
        placeholders.append(match.group(0))
        return f"\x00{len(placeholders) - 1}\x00"

    tokens = shlex.split(_PLACEHOLDER.sub(protect, command))
    return [re.sub(r"\x00(\d+)\x00", lambda m: placeholders[int(m.group(1))], token) for token in tokens]


def render_value(value: Any) -> str:
    """How a value appears in text: null is empty, lists are comma-separated, dicts are JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(render_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)
