"""The pattern book: detector patterns and thresholds as data, per-room overrides, reload on change.

The shipped `patterns.yaml` is the base; every installed marketplace package's `patterns/*.yaml`
is laid over it (package name, then file name order), then the operator's file (if any), so the
operator has the last word; then every `rooms:` entry matching a room id (exact or glob) is laid
over that, in layer and file order. Dicts merge key by key, lists replace, and `add_<list>` keys
append. A broken operator or package file is reported in one line (file:line, what, how to fix)
and the last good patterns stay in force. The files, and which package versions are installed,
are checked for changes by polling (`maybe_reload`), so installing, updating, rolling back or
removing a package changes the detectors without a restart.
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
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hololoom_core.memory.prefilter import GateScanner, gate_regex, may_match, required_substrings
from hololoom_core.packages import package_folders
from hololoom_core.text.clean import UnreadableText, read_text_file
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml, yaml_line

if TYPE_CHECKING:
    from hololoom_core.config import Config

SHIPPED_PATTERNS = Path(__file__).with_name("patterns.yaml")
DETECTOR_KINDS = ("decision", "action_item", "question", "incident_signal")
PATTERN_SUFFIXES = (".yaml", ".yml")


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


def check_pattern_overlay(text: str, where: str) -> dict[str, Any]:
    """Parse and validate one pattern file's text (schema and every regex) the way the pattern book does.

    Returns the file's data; raises `PatternError` naming `where:line` on the first problem. The
    marketplace checks a package's `patterns/*.yaml` with it before install.
    """
    try:
        data, document = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise PatternError(f"{exc.where(where)}: YAML syntax error ({exc.problem}); check indentation and quoting")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PatternError(f"{where}:1: a pattern file is a mapping (detectors:, reversal:, rooms:, ...)")
    _validate(data, where, document)
    return data


@dataclass(frozen=True, slots=True)
class PatternLayer:
    """One pattern file laid over the shipped patterns: an installed package's or the operator's."""

    path: Path
    label: str
    package: str | None = None

    def load(self) -> dict[str, Any]:
        """Read and validate the file; `PatternError` naming the label and line on a problem."""
        try:
            text = read_text_file(self.path)
        except OSError as exc:
            fix = "update or remove the package" if self.package else "check the path in memory.patterns_file"
            raise PatternError(f"{self.label}: cannot read pattern file ({exc}); {fix}")
        except UnreadableText as exc:
            fix = "update or remove the package" if self.package else "fix or remove the pattern file"
            raise PatternError(f"{self.label}: {exc}; {fix}")
        return check_pattern_overlay(text, self.label)


def package_pattern_layers(data_dir: Path) -> list[PatternLayer]:
    """Every installed package's `patterns/*.yaml` (and `.yml`), in package name, then file name order."""
    layers: list[PatternLayer] = []
    for name, folder in package_folders(data_dir, "patterns"):
        try:
            files = sorted((path for path in folder.iterdir() if path.suffix in PATTERN_SUFFIXES),
                           key=lambda path: path.name)
        except OSError:  # no patterns folder (or the package was removed while we looked)
            continue
        layers += [PatternLayer(path, f"package {name}: patterns/{path.name}", name) for path in files]
    return layers


def _validate(data: dict[str, Any], path: Path | str, document: yaml.Node | None) -> None:
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


_Stamp = tuple[str, str, tuple[int, int] | None]  # (label, resolved path, (mtime in ns, size)) of one file


@dataclass(frozen=True, slots=True)
class _Scan:
    """What the files look like now: their stamps (to notice a change) and the package layers found."""

    stamps: tuple[_Stamp, ...]
    packages: tuple[PatternLayer, ...]
    user_exists: bool


def _stamp(label: str, path: Path) -> _Stamp:
    """The file's resolved path (an update or rollback re-points `active/NAME`) and its mtime + size."""
    try:
        stat = path.stat()
        resolved = str(path.resolve())
    except OSError:
        return label, str(path), None
    return label, resolved, (stat.st_mtime_ns, stat.st_size)


class PatternBook:
    """The patterns in force: shipped file + package files + operator file + per-room entries, re-read on change."""

    def __init__(
        self,
        user_path: Path | None = None,
        *,
        data_dir: Path | None = None,
        shipped_path: Path = SHIPPED_PATTERNS,
        check_interval: float = 1.0,
        on_error: Callable[[str], None] | None = None,
        on_reload: Callable[[str], None] | None = None,
    ) -> None:
        self.user_path = user_path
        self.data_dir = data_dir
        self.shipped_path = shipped_path
        self.check_interval = check_interval
        self.on_error = on_error
        self.on_reload = on_reload
        self.generation = 0
        self.last_error: str | None = None
        self.layers: tuple[PatternLayer, ...] = ()  # the package and operator files in force, lowest first
        self._stamps: tuple[_Stamp, ...] = ()
        self._last_check = 0.0
        self._base: dict[str, Any] = {}
        self._room_entries: list[tuple[str, dict[str, Any]]] = []
        self._cache: dict[str, RoomPatterns] = {}
        self.reload(force=True)

    @classmethod
    def for_config(cls, config: Config, **options: Any) -> PatternBook:
        """The book an engine on `config` uses: the operator's file (`memory.patterns_file`, default
        `<data dir>/patterns.yaml`) and the patterns of the packages installed in its data dir."""
        user_file = config.memory.patterns_file or (config.data_dir / "patterns.yaml")
        return cls(Path(user_file).expanduser(), data_dir=config.data_dir, **options)

    def _scan(self) -> _Scan:
        packages = tuple(package_pattern_layers(self.data_dir)) if self.data_dir is not None else ()
        stamps = [_stamp("shipped", self.shipped_path)]
        stamps += [_stamp(layer.label, layer.path) for layer in packages]
        user_exists = False
        if self.user_path is not None:
            stamps.append(_stamp("operator", self.user_path))
            user_exists = stamps[-1][2] is not None
        return _Scan(tuple(stamps), packages, user_exists)

    def maybe_reload(self) -> bool:
        """Re-read the files if one changed or a package came, went or changed version (checked at most
        every `check_interval` seconds)."""
        now = time.monotonic()
        if now - self._last_check < self.check_interval:
            return False
        self._last_check = now
        scan = self._scan()
        if scan.stamps == self._stamps:
            return False
        return self._reload(scan, force=False)

    def reload(self, force: bool = False) -> bool:
        """Read and validate the files; on a problem keep the last good patterns and report one line.

        At start (`force`, nothing in force yet) a broken package or operator file is left out and the
        rest is used; a broken shipped file is a bug and raises `PatternError`.
        """
        return self._reload(self._scan(), force)

    def _reload(self, scan: _Scan, force: bool) -> bool:
        self._stamps = scan.stamps
        starting = force and self.generation == 0
        try:
            shipped = PatternLayer(self.shipped_path, str(self.shipped_path)).load()
        except PatternError as exc:
            if starting:
                raise
            return self._refuse([str(exc)])
        layers = list(scan.packages)
        if self.user_path is not None and scan.user_exists:
            layers.append(PatternLayer(self.user_path, str(self.user_path)))
        loaded: list[tuple[PatternLayer, dict[str, Any]]] = []
        problems: list[str] = []
        for layer in layers:
            try:
                loaded.append((layer, layer.load()))
            except PatternError as exc:
                problems.append(str(exc))
        if problems and not starting:
            return self._refuse(problems)
        base = {k: v for k, v in shipped.items() if k != "rooms"}
        entries = [(str(room), entry or {}) for room, entry in (shipped.get("rooms") or {}).items()]
        for _, data in loaded:
            base = merge(base, {k: v for k, v in data.items() if k != "rooms"})
            entries += [(str(room), entry or {}) for room, entry in (data.get("rooms") or {}).items()]
        _room_rules(base)
        for _, entry in entries:
            _room_rules(merge(base, entry))
        self._install(base, entries)
        self.layers = tuple(layer for layer, _ in loaded)
        if problems:
            return self._refuse(problems)
        self.last_error = None
        if not force and self.on_reload is not None:
            self.on_reload(f"patterns reloaded (generation {self.generation}; {self._layer_summary()})")
        return True

    def _refuse(self, problems: list[str]) -> bool:
        """Report the first problem in one line (the last good patterns stay in force)."""
        more = len(problems) - 1
        self.last_error = problems[0] + (f" (and {more} more broken pattern file(s))" if more else "")
        if self.on_error is not None:
            self.on_error(self.last_error)
        return False

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

    def _layer_summary(self) -> str:
        packages = {layer.package for layer in self.layers if layer.package}
        operator = any(layer.package is None for layer in self.layers)
        return f"{len(packages)} package(s), {'an' if operator else 'no'} operator file"

    def describe(self) -> str:
        """Which files are in force, lowest layer first, in one line."""
        files = [str(self.shipped_path), *(layer.label for layer in self.layers)]
        rooms = len(self._room_entries)
        return f"{' + '.join(files)}; {rooms} room override(s); generation {self.generation}"
