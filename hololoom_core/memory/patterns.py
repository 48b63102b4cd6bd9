"""The pattern book: detector patterns and thresholds as data, per-room overrides, reload on change.

The shipped `patterns.yaml` is the base; the operator's file (if any) is laid over it, and then
every `rooms:` entry matching a room id (exact or glob) is laid over that, in file order. Dicts
merge key by key, lists replace, and `add_<list>` keys append. A broken operator file is reported
in one line (file:line, what, how to fix) and the last good patterns stay in force.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hololoom_core.memory.prefilter import GateScanner, gate_regex, may_match, required_substrings
from hololoom_core.text.clean import UnreadableText, read_text_file
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml, yaml_line

SHIPPED_PATTERNS = Path(__file__).with_name("patterns.yaml")
DETECTOR_KINDS = ("decision", "action_item", "question", "incident_signal")


class PatternError(Exception):
    """A pattern file problem, in one line naming the file, the line and the fix."""


# -- the file's schema (every key optional, so an override file may say only what it changes) --------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatternSpec(_Spec):
    """One weighted regex."""

    id: str
    regex: str
    weight: float = Field(gt=0, le=1)


class SeveritySpec(_Spec):
    """A regex that, when it matches an incident signal, suggests this severity."""

    severity: Literal["sev1", "sev2", "sev3", "sev4"]
    regex: str


class DetectorSpec(_Spec):
    """One detector's patterns and threshold."""

    enabled: bool | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)
    patterns: list[PatternSpec] | None = None
    add_patterns: list[PatternSpec] | None = None
    negative: list[PatternSpec] | None = None
    add_negative: list[PatternSpec] | None = None
    owner_patterns: list[str] | None = None
    add_owner_patterns: list[str] | None = None
    due_patterns: list[str] | None = None
    add_due_patterns: list[str] | None = None
    severity_patterns: list[SeveritySpec] | None = None


class ReversalSpec(_Spec):
    """When a later decision reverses an earlier one."""

    markers: list[str] | None = None
    add_markers: list[str] | None = None
    min_overlap: float | None = Field(default=None, ge=0, le=1)
    max_age_days: float | None = Field(default=None, gt=0)


class AnswersSpec(_Spec):
    """When a message answers an open question."""

    window_minutes: float | None = Field(default=None, gt=0)
    min_overlap: float | None = Field(default=None, ge=0, le=1)
    reply_confidence: float | None = Field(default=None, ge=0, le=1)
    nearby_confidence: float | None = Field(default=None, ge=0, le=1)


class CompletionSpec(_Spec):
    """When a message completes an open action item."""

    patterns: list[str] | None = None
    add_patterns: list[str] | None = None
    min_overlap: float | None = Field(default=None, ge=0, le=1)
    window_days: float | None = Field(default=None, gt=0)


class IncidentSuggestionSpec(_Spec):
    """When incident signals become a suggestion to declare an incident."""

    enabled: bool | None = None
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    min_signals: int | None = Field(default=None, ge=1, le=100)
    window_minutes: float | None = Field(default=None, gt=0)


class SuggestionsSpec(_Spec):
    """Proactive suggestions."""

    incident: IncidentSuggestionSpec | None = None


class SectionSpec(_Spec):
    """Everything a file (or a room entry) may set."""

    detectors: dict[Literal["decision", "action_item", "question", "incident_signal"], DetectorSpec] | None = None
    reversal: ReversalSpec | None = None
    answers: AnswersSpec | None = None
    completion: CompletionSpec | None = None
    suggestions: SuggestionsSpec | None = None


class PatternFileSpec(SectionSpec):
    """A whole pattern file."""

    version: Literal[1] = 1
    rooms: dict[str, SectionSpec] = Field(default_factory=dict)


# -- compiled, ready-to-use rules -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled weighted regex, with a literal prefilter derived from it."""

    id: str
    regex: re.Pattern[str]
    weight: float
    gate: re.Pattern[str] | None = None
    required: frozenset[str] | None = None

    @classmethod
    def build(cls, spec: dict[str, Any]) -> Pattern:
        """Compile a pattern spec (id, regex, weight); the same spec in many rooms is compiled once."""
        return _build_pattern(str(spec["id"]), str(spec["regex"]), float(spec["weight"]))

    def search(self, text: str, lower: str, ascii_text: bool) -> bool:
        """True if the regex matches (the prefilter skips texts it certainly cannot match)."""
        return may_match(self.gate, lower, ascii_text) and self.regex.search(text) is not None


@functools.lru_cache(maxsize=4096)
def _build_pattern(pattern_id: str, source: str, weight: float) -> Pattern:
    regex = re.compile(source, re.I)
    required = required_substrings(regex)
    return Pattern(pattern_id, regex, weight, gate_regex(required), required)


@dataclass(frozen=True, slots=True)
class DetectorRules:
    """One detector's compiled patterns for one room."""

    kind: str
    enabled: bool
    threshold: float
    patterns: tuple[Pattern, ...]
    negative: tuple[Pattern, ...]
    owner_patterns: tuple[re.Pattern[str], ...] = ()
    due_patterns: tuple[re.Pattern[str], ...] = ()
    severity_patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
    pattern_bits: tuple[int, ...] = ()
    negative_bits: tuple[int, ...] = ()

    def score(self, text: str, candidates: int | None = None) -> tuple[float, list[str]]:
        """Confidence in [0, 1] that `text` is of this kind, and the ids of the patterns that matched.

        `candidates` is the room's `GateScanner` mask for the text (`RoomPatterns.candidates`): only
        the patterns it names are run. Without it each pattern checks its own prefilter.
        """
        if candidates is None:
            return self._score_gated(text)
        missing = 1.0
        matched: list[str] = []
        for pattern, bit in zip(self.patterns, self.pattern_bits, strict=True):
            if candidates & bit and pattern.regex.search(text) is not None:
                missing *= 1.0 - pattern.weight
                matched.append(pattern.id)
        if not matched:
            return 0.0, matched
        confidence = 1.0 - missing
        for pattern, bit in zip(self.negative, self.negative_bits, strict=True):
            if candidates & bit and pattern.regex.search(text) is not None:
                confidence *= 1.0 - pattern.weight
                matched.append("-" + pattern.id)
        return confidence, matched

    def _score_gated(self, text: str) -> tuple[float, list[str]]:
        missing = 1.0
        matched: list[str] = []
        lower = text.lower()
        ascii_text = text.isascii()
        for pattern in self.patterns:
            if pattern.search(text, lower, ascii_text):
                missing *= 1.0 - pattern.weight
                matched.append(pattern.id)
        if not matched:
            return 0.0, matched
        confidence = 1.0 - missing
        for pattern in self.negative:
            if pattern.search(text, lower, ascii_text):
                confidence *= 1.0 - pattern.weight
                matched.append("-" + pattern.id)
        return confidence, matched


@dataclass(frozen=True, slots=True)
class RoomPatterns:
    """Every rule in force in one room."""

    detectors: dict[str, DetectorRules]
    reversal_markers: tuple[re.Pattern[str], ...]
    reversal_min_overlap: float
    reversal_max_age_days: float
    answer_window_minutes: float
    answer_min_overlap: float
    answer_reply_confidence: float
    answer_nearby_confidence: float
    completion_patterns: tuple[re.Pattern[str], ...]
    completion_min_overlap: float
    completion_window_days: float
    incident_suggestion: dict[str, Any] = field(default_factory=dict)
    scanner: GateScanner = field(default_factory=lambda: GateScanner([]))
    completion_bit: int = 0

    def candidates(self, text: str) -> int:
        """One pass over the text: the mask of the room's detector patterns (and completion patterns) that may match."""
        return self.scanner.candidates(text.lower(), text.isascii())

    def may_complete(self, candidates: int) -> bool:
        """False only when no completion pattern can match the text the mask was computed for."""
        return bool(candidates & self.completion_bit)


def merge(base: Any, overlay: Any) -> Any:
    """Lay `overlay` over `base`: dicts merge by key, lists and scalars replace, `add_X` appends to X."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return copy.deepcopy(overlay)
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        if value is None:
            continue
        if key.startswith("add_") and isinstance(value, list):
            target = key[4:]
            result[target] = list(result.get(target) or []) + copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _compile(regex: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(regex, re.I)
    except re.error as exc:
        raise PatternError(f"{where}: bad regex ({exc}); fix the pattern (Python re syntax, YAML-escaped)")


def _read(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        text = read_text_file(path)
    except OSError as exc:
        raise PatternError(f"{path}: cannot read pattern file ({exc}); check the path in memory.patterns_file")
    except UnreadableText as exc:
        raise PatternError(f"{path}: {exc}; fix or remove the pattern file")
    try:
        data, document = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise PatternError(f"{exc.where(path)}: YAML syntax error ({exc.problem}); check indentation and quoting")
    if data is None:
        return {}, document
    if not isinstance(data, dict):
        raise PatternError(f"{path}:1: a pattern file is a mapping (detectors:, reversal:, rooms:, ...)")
    return data, document


def _validate(data: dict[str, Any], path: Path, document: yaml.Node | None) -> None:
    """Check the schema and compile every regex, naming file:line on the first problem."""
    try:
        PatternFileSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = tuple(part for part in first["loc"] if part != "[key]")
        line = yaml_line(document, location)
        key = ".".join(str(part) for part in location)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "is not a known key"
        raise PatternError(f"{path}:{line or 1}: '{key}' {message}; see docs/memory.md for the format")

    def walk(node: Any, location: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            if "regex" in node and isinstance(node["regex"], str):
                label = node.get("id") or node.get("severity") or ".".join(map(str, location))
                _compile(node["regex"], f"{path}:{yaml_line(document, (*location, 'regex'))} (pattern {label})")
            for key, value in node.items():
                walk(value, (*location, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, str) and location and str(location[-1]).endswith(("_patterns", "markers")):
                    _compile(value, f"{path}:{yaml_line(document, (*location, index))}")
                elif isinstance(value, str) and location and str(location[-1]) in ("patterns", "add_patterns"):
                    _compile(value, f"{path}:{yaml_line(document, (*location, index))}")
                else:
                    walk(value, (*location, index))

    walk(data, ())


def _room_rules(data: dict[str, Any]) -> RoomPatterns:
    """Compile fully merged data (base + overlays) into the rules of one room."""
    detectors: dict[str, DetectorRules] = {}
    gates: list[frozenset[str] | None] = []

    def bits(patterns: tuple[Pattern, ...]) -> tuple[int, ...]:
        start = len(gates)
        gates.extend(pattern.required for pattern in patterns)
        return tuple(1 << index for index in range(start, len(gates)))

    for kind in DETECTOR_KINDS:
        spec = data.get("detectors", {}).get(kind, {})
        patterns = tuple(Pattern.build(p) for p in spec.get("patterns") or [])
        negative = tuple(Pattern.build(p) for p in spec.get("negative") or [])
        detectors[kind] = DetectorRules(
            kind=kind,
            enabled=bool(spec.get("enabled", True)),
            threshold=float(spec.get("threshold", 0.6)),
            patterns=patterns,
            negative=negative,
            pattern_bits=bits(patterns),
            negative_bits=bits(negative),
            owner_patterns=tuple(re.compile(p, re.I) for p in spec.get("owner_patterns") or []),
            due_patterns=tuple(re.compile(p, re.I) for p in spec.get("due_patterns") or []),
            severity_patterns=tuple((s["severity"], re.compile(s["regex"], re.I))
                                    for s in spec.get("severity_patterns") or []),
        )
    reversal = data.get("reversal", {})
    answers = data.get("answers", {})
    completion = data.get("completion", {})
    incident = dict(data.get("suggestions", {}).get("incident", {}))
    incident.setdefault("enabled", True)
    incident.setdefault("min_confidence", 0.8)
    incident.setdefault("min_signals", 2)
    incident.setdefault("window_minutes", 15)
    completion_patterns = tuple(re.compile(p, re.I) for p in completion.get("patterns") or [])
    completion_bit = 0
    for regex in completion_patterns:
        completion_bit |= 1 << len(gates)
        gates.append(required_substrings(regex))
    return RoomPatterns(
        detectors=detectors,
        reversal_markers=tuple(re.compile(p, re.I) for p in reversal.get("markers") or []),
        reversal_min_overlap=float(reversal.get("min_overlap", 0.3)),
        reversal_max_age_days=float(reversal.get("max_age_days", 90)),
        answer_window_minutes=float(answers.get("window_minutes", 240)),
        answer_min_overlap=float(answers.get("min_overlap", 0.34)),
        answer_reply_confidence=float(answers.get("reply_confidence", 0.9)),
        answer_nearby_confidence=float(answers.get("nearby_confidence", 0.65)),
        completion_patterns=completion_patterns,
        completion_min_overlap=float(completion.get("min_overlap", 0.25)),
        completion_window_days=float(completion.get("window_days", 30)),
        incident_suggestion=incident,
        scanner=GateScanner(gates),
        completion_bit=completion_bit,
    )


class PatternBook:
    """The patterns in force: shipped file + operator file + per-room entries, re-read when a file changes."""

    def __init__(
        self,
        user_path: Path | None = None,
        *,
        shipped_path: Path = SHIPPED_PATTERNS,
        check_interval: float = 1.0,
        on_error: Callable[[str], None] | None = None,
        on_reload: Callable[[str], None] | None = None,
    ) -> None:
        self.user_path = user_path
        self.shipped_path = shipped_path
        self.check_interval = check_interval
        self.on_error = on_error
        self.on_reload = on_reload
        self.generation = 0
        self.last_error: str | None = None
        self._stamps: tuple[float | None, float | None] = (None, None)
        self._last_check = 0.0
        self._base: dict[str, Any] = {}
        self._room_entries: list[tuple[str, dict[str, Any]]] = []
        self._cache: dict[str, RoomPatterns] = {}
        self.reload(force=True)

    def _stat(self) -> tuple[float | None, float | None]:
        def mtime(path: Path | None) -> float | None:
            if path is None:
                return None
            try:
                stat = path.stat()
            except OSError:
                return None
            return stat.st_mtime_ns + stat.st_size * 1e-3

        return mtime(self.shipped_path), mtime(self.user_path)

    def maybe_reload(self) -> bool:
        """Re-read the files if one changed (checked at most every `check_interval` seconds)."""
        now = time.monotonic()
        if now - self._last_check < self.check_interval:
            return False
        self._last_check = now
        if self._stat() == self._stamps:
            return False
        return self.reload()

    def reload(self, force: bool = False) -> bool:
        """Read and validate the files; on a problem keep the last good patterns and report one line."""
        stamps = self._stat()
        try:
            shipped, shipped_doc = _read(self.shipped_path)
            _validate(shipped, self.shipped_path, shipped_doc)
            base = shipped
            sources = [shipped]
            if self.user_path is not None and stamps[1] is not None:
                user, user_doc = _read(self.user_path)
                _validate(user, self.user_path, user_doc)
                base = merge(shipped, {k: v for k, v in user.items() if k != "rooms"})
                sources.append(user)
            entries: list[tuple[str, dict[str, Any]]] = []
            for source in sources:
                for room, entry in (source.get("rooms") or {}).items():
                    entries.append((str(room), entry or {}))
            base = {k: v for k, v in base.items() if k != "rooms"}
            _room_rules(base)
            for _, entry in entries:
                _room_rules(merge(base, entry))
        except PatternError as exc:
            self._stamps = stamps
            self.last_error = str(exc)
            if force and not self._base:
                if self.user_path is not None and str(self.user_path) in str(exc):
                    # The operator's file is broken at start: run on the shipped patterns, say so once.
                    shipped, _ = _read(self.shipped_path)
                    self._install({k: v for k, v in shipped.items() if k != "rooms"},
                                  [(str(r), e or {}) for r, e in (shipped.get("rooms") or {}).items()])
                else:
                    raise
            if self.on_error is not None:
                self.on_error(str(exc))
            return False
        self._stamps = stamps
        self.last_error = None
        self._install(base, entries)
        if not force and self.on_reload is not None:
            self.on_reload(f"patterns reloaded (generation {self.generation})")
        return True

    def _install(self, base: dict[str, Any], entries: list[tuple[str, dict[str, Any]]]) -> None:
        self._base = base
        self._room_entries = entries
        self._cache = {}
        self.generation += 1

    def for_room(self, room_id: str | None) -> RoomPatterns:
        """The rules in force in a room (base plus every matching room entry)."""
        self.maybe_reload()
        key = room_id or ""
        rules = self._cache.get(key)
        if rules is None:
            data = self._base
            for pattern, entry in self._room_entries:
                if room_id is not None and (pattern == room_id or fnmatch.fnmatchcase(room_id, pattern)):
                    data = merge(data, entry)
            rules = _room_rules(data)
            self._cache[key] = rules
        return rules

    def describe(self) -> str:
        """Which files are in force, in one line."""
        files = [str(self.shipped_path)]
        if self.user_path is not None and self._stamps[1] is not None:
            files.append(str(self.user_path))
        rooms = len(self._room_entries)
        return f"{' + '.join(files)}; {rooms} room override(s); generation {self.generation}"
