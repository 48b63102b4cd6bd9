"""The loop composition language: `generate -> judge -> refine until quality >= 0.8 max 3 -> verify`.

Grammar (keywords are case-insensitive; `→` may stand for `->`):

    loop       := step ( "->" step )*
    step       := "generate" | "judge" | "verify" | refine
    refine     := "refine" [ "until" condition ] [ "max" WHOLE_NUMBER ]
    condition  := comparison ( "and" comparison )*
    comparison := metric ( ">=" | ">" | "<=" | "<" ) NUMBER
    metric     := "quality" | "structure" | "grounded" | "actionable" | "concise" | "safe"

Rules checked after parsing: the loop starts with `generate`, which appears once; thresholds
are in [0, 1]; `max` is 1-10 (default 3 with `until`, else 1). A mistake raises
`LoopSyntaxError` naming the column, what was expected and what was found.
This module only parses; `loops.py` runs the compiled program.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

METRICS: tuple[str, ...] = ("quality", "structure", "grounded", "actionable", "concise", "safe")
STEP_NAMES: tuple[str, ...] = ("generate", "judge", "refine", "verify")
KEYWORDS: tuple[str, ...] = (*STEP_NAMES, "until", "max", "and", *METRICS)
MAX_ROUNDS_LIMIT = 10
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<arrow>->|→)|(?P<op>>=|<=|>|<)|(?P<number>\d+(?:\.\d+)?|\.\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_-]*)"
)


class LoopSyntaxError(ValueError):
    """A loop text that does not parse: where (1-based column), what was expected, what was found."""

    def __init__(self, text: str, position: int, expected: str, found: str, hint: str = "") -> None:
        self.text = text
        self.position = position
        self.column = position + 1
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(f"loop '{text}': {self.detail}")

    @property
    def detail(self) -> str:
        """The one-line description without the loop text: column, expected, found, hint."""
        hint = f" ({self.hint})" if self.hint else ""
        return f"column {self.column}: expected {self.expected}, found {self.found}{hint}"

    def pointer(self) -> str:
        """The loop text with a caret under the problem (two lines, for terminals)."""
        return f"{self.text}\n{' ' * self.position}^"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # arrow, op, number, word, end
    text: str
    position: int

    def shown(self) -> str:
        return "the end of the loop" if self.kind == "end" else f"'{self.text}'"


def tokenize(text: str) -> list[_Token]:
    """Split loop text into tokens; an unknown character is a syntax error at its column."""
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise LoopSyntaxError(text, position, "a step, '->', a comparison or a number", f"'{text[position]}'")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True, slots=True)
class Comparison:
    """`metric op value`, e.g. `quality >= 0.8`."""

    metric: str
    op: str
    value: float

    def holds(self, scores: dict[str, float]) -> bool:
        """True when the metric's score satisfies the comparison (a missing score never does)."""
        score = scores.get(self.metric)
        return score is not None and _OPERATORS[self.op](score, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True, slots=True)
class Condition:
    """All comparisons must hold."""

    comparisons: tuple[Comparison, ...]

    def holds(self, scores: dict[str, float]) -> bool:
        """True when every comparison holds."""
        return all(c.holds(scores) for c in self.comparisons)

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.comparisons)


@dataclass(frozen=True, slots=True)
class Step:
    """One loop step: `generate`, `judge`, `verify`, or `refine` with its stop condition and round limit."""

    kind: str
    until: Condition | None = None
    max_rounds: int = 1

    def __str__(self) -> str:
        if self.kind != "refine":
            return self.kind
        until = f" until {self.until}" if self.until else ""
        return f"refine{until} max {self.max_rounds}"


@dataclass(frozen=True, slots=True)
class LoopProgram:
    """A parsed, checked loop: its steps in order, and the text it came from."""

    source: str
    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return " -> ".join(str(step) for step in self.steps)

    def with_threshold(self, threshold: float) -> LoopProgram:
        """The same loop with every refine step stopping at `quality >= threshold` (an experiment knob)."""
        steps = []
        for step in self.steps:
            if step.kind == "refine":
                others = tuple(c for c in (step.until.comparisons if step.until else ()) if c.metric != "quality")
                until = Condition((Comparison("quality", ">=", threshold), *others))
                rounds = step.max_rounds if step.until else max(step.max_rounds, 3)
                step = replace(step, until=until, max_rounds=rounds)
            steps.append(step)
        return LoopProgram(f"{self} (quality >= {threshold:g})", tuple(steps))


class _Parser:
    """Recursive descent over the token list."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_word(self, *words: str) -> bool:
        return self.current.kind == "word" and self.current.text.lower() in words

    def fail(self, expected: str, token: _Token | None = None, choices: tuple[str, ...] = ()) -> LoopSyntaxError:
        token = token or self.current
        hint = ""
        if token.kind == "word" and choices:
            close = difflib.get_close_matches(token.text.lower(), choices, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else ""
        return LoopSyntaxError(self.text, token.position, expected, token.shown(), hint)

    def parse(self) -> list[tuple[Step, int]]:
        if self.current.kind == "end":
            raise self.fail("a step (generate, judge, refine or verify)")
        steps = [self.step()]
        while self.current.kind == "arrow":
            self.advance()
            steps.append(self.step())
        if self.current.kind != "end":
            expected = "'->' or the end of the loop"
            if steps[-1][0].kind == "refine" and self.current.kind == "word":
                expected = "'until', 'max', '->' or the end of the loop"
            raise self.fail(expected, choices=("until", "max"))
        return steps

    def step(self) -> tuple[Step, int]:
        token = self.current
        if not self.is_word(*STEP_NAMES):
            raise self.fail("a step (generate, judge, refine or verify)", choices=STEP_NAMES)
        self.advance()
        name = token.text.lower()
        if name != "refine":
            return Step(name), token.position
        until = None
        if self.is_word("until"):
            self.advance()
            until = self.condition()
        max_rounds = 3 if until else 1
        if self.is_word("max"):
            self.advance()
            number = self.current
            if number.kind != "number" or "." in number.text:
                raise self.fail("a whole number after 'max'")
            self.advance()
            max_rounds = int(number.text)
            if not 1 <= max_rounds <= MAX_ROUNDS_LIMIT:
                raise LoopSyntaxError(self.text, number.position, f"a number of rounds from 1 to {MAX_ROUNDS_LIMIT}",
                                      f"'{number.text}'")
        return Step("refine", until, max_rounds), token.position

    def condition(self) -> Condition:
        comparisons = [self.comparison()]
        while self.is_word("and"):
            self.advance()
            comparisons.append(self.comparison())
        return Condition(tuple(comparisons))

    def comparison(self) -> Comparison:
        if not self.is_word(*METRICS):
            raise self.fail("a metric (" + ", ".join(METRICS) + ")", choices=METRICS)
        metric = self.advance().text.lower()
        if self.current.kind != "op":
            raise self.fail(f"a comparison operator (>=, >, <=, <) after '{metric}'")
        op = self.advance().text
        number = self.current
        if number.kind != "number":
            raise self.fail(f"a number between 0 and 1 after '{metric} {op}'")
        self.advance()
        value = float(number.text)
        if not 0.0 <= value <= 1.0:
            raise LoopSyntaxError(self.text, number.position, "a threshold between 0 and 1", f"'{number.text}'",
                                  "scores are in [0, 1]: 0.8 means 80 points")
        return Comparison(metric, op, value)


def parse_loop(text: str) -> LoopProgram:
    """Parse and check loop text; raises LoopSyntaxError with the column, expectation and what was found."""
    parser = _Parser(text)
    steps = parser.parse()
    first, first_position = steps[0]
    if first.kind != "generate":
        raise LoopSyntaxError(text, first_position, "'generate' as the first step", f"'{first.kind}'",
                              "a loop must produce an answer before judging, refining or verifying it")
    for step, position in steps[1:]:
        if step.kind == "generate":
            raise LoopSyntaxError(text, position, "judge, refine or verify", "a second 'generate'",
                                  "use 'refine' to improve the answer instead")
    return LoopProgram(text, tuple(step for step, _ in steps))
