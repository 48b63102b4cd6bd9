"""The runbook knowledge base: YAML files shipped in the package, searched with BM25 plus keyword matches."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from hololoom_core.packages import package_folders
from hololoom_core.text.entities import extract_entities
from hololoom_core.text.terms import term_set, terms
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml

REQUIRED_KEYS = ("id", "title", "summary", "keywords", "symptoms", "triage", "remediation", "verify", "escalate")


class RunbookError(Exception):
    """A runbook file that cannot be used, described in one line."""


@dataclass(frozen=True, slots=True)
class Runbook:
    """One operational situation: how to recognise it, triage, fix and verify it."""

    id: str
    title: str
    summary: str
    keywords: tuple[str, ...]
    symptoms: tuple[str, ...]
    triage: tuple[str, ...]
    remediation: tuple[str, ...]
    verify: tuple[str, ...]
    escalate: str
    severity_hint: str = "sev3"
    related: tuple[str, ...] = ()
    origin: str = ""  # "" for the shipped runbooks, else the marketplace package that installed it

    @property
    def text(self) -> str:
        """All searchable text of the runbook."""
        return " ".join(
            [self.title, self.summary, " ".join(self.keywords), " ".join(self.symptoms), " ".join(self.triage),
             " ".join(self.remediation), " ".join(self.verify)]
        )


@dataclass(frozen=True, slots=True)
class RunbookMatch:
    """A runbook matched to a question, with a confidence in [0, 1] and the words that matched."""

    runbook: Runbook
    confidence: float
    matched_keywords: tuple[str, ...]
    bm25: float


def _as_tuple(value: object, key: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, (str, int, float)) for item in value):
        raise RunbookError(f"{path}: '{key}' must be a list of strings")
    return tuple(str(item) for item in value)


def load_runbook(path: Path, text: str | None = None) -> Runbook:
    """Parse and validate one runbook file."""
    try:
        data, _document = parse_yaml(text if text is not None else path.read_text(encoding="utf-8"))
    except YamlSyntaxError as exc:
        raise RunbookError(f"{exc.where(path)}: YAML syntax error ({exc.problem})")
    if not isinstance(data, dict):
        raise RunbookError(f"{path}: a runbook must be a mapping with keys {', '.join(REQUIRED_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise RunbookError(f"{path}: missing key(s) {', '.join(missing)}")
    return Runbook(
        id=str(data["id"]),
        title=str(data["title"]),
        summary=str(data["summary"]),
        keywords=_as_tuple(data["keywords"], "keywords", path),
        symptoms=_as_tuple(data["symptoms"], "symptoms", path),
        triage=_as_tuple(data["triage"], "triage", path),
        remediation=_as_tuple(data["remediation"], "remediation", path),
        verify=_as_tuple(data["verify"], "verify", path),
        escalate=str(data["escalate"]),
        severity_hint=str(data.get("severity_hint", "sev3")),
        related=_as_tuple(data.get("related", []), "related", path),
    )


MARKDOWN_SECTIONS = {
    "summary": "summary", "keywords": "keywords", "symptoms": "symptoms", "signs": "symptoms",
    "triage": "triage", "first steps": "triage", "diagnosis": "triage",
    "remediation": "remediation", "remediate": "remediation", "fix": "remediation", "steps": "remediation",
    "verify": "verify", "verification": "verify", "escalate": "escalate", "escalation": "escalate",
}
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
_KEYWORDS_LINE = re.compile(r"^keywords:\s*(.+)$", re.IGNORECASE)


def load_markdown_runbook(path: Path, text: str | None = None) -> Runbook:
    """Parse a Markdown runbook: `# Title`, then `## Summary / Keywords / Symptoms / Triage / Remediation /
    Verify / Escalate` sections of list items or paragraphs (any of them optional).

    Without sections, the first paragraph is the summary and every later item or paragraph a triage step;
    items of sections with other names are triage steps too. A `Keywords: a, b` line sets the keywords;
    the lines of a fenced code block join the step before it as inline code.
    """
    body = text if text is not None else path.read_text(encoding="utf-8")
    title = ""
    fields: dict[str, list[str]] = {name: [] for name in set(MARKDOWN_SECTIONS.values())}
    intro: list[str] = []
    preamble: list[str] = []
    section: str | None = None
    joining = False  # a plain line right after an entry continues it (a wrapped item or paragraph)
    fenced = False
    for raw in body.splitlines():
        stripped = raw.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:  # a code block's lines join the entry before it, as inline code
            target = fields[section] if section is not None else (preamble or intro)
            if stripped and target:
                target[-1] += f" `{stripped}`"
            continue
        if stripped.startswith("#"):
            name = stripped.lstrip("#").strip()
            if stripped.startswith("# ") and not title:
                title, section = name, None
            else:
                section = MARKDOWN_SECTIONS.get(name.lower().rstrip(":"), "triage")
            joining = False
            continue
        if not stripped:
            joining = False
            continue
        keywords = _KEYWORDS_LINE.match(stripped)
        if keywords:
            fields["keywords"] += [word.strip() for word in keywords.group(1).split(",") if word.strip()]
            continue
        item = _LIST_ITEM.match(raw)
        if section is not None:
            target = fields[section]
        else:  # before any section: paragraphs before the first item describe, the rest are steps
            target = intro if not preamble and not item else preamble
        if item:
            target.append(item.group(1).strip())
        elif joining and target:
            target[-1] += " " + stripped
        else:
            target.append(stripped)
        joining = True
    if not title:
        raise RunbookError(f"{path}: a Markdown runbook starts with a '# Title' line")
    summary = " ".join([*intro, *fields["summary"]])
    triage = [*preamble, *fields["triage"]]
    if not (triage or fields["remediation"] or fields["verify"]):
        raise RunbookError(f"{path}: no steps (list items or paragraphs under '# {title}')")
    return Runbook(
        id=path.stem, title=title, summary=summary, keywords=tuple(fields["keywords"]),
        symptoms=tuple(fields["symptoms"]), triage=tuple(triage), remediation=tuple(fields["remediation"]),
        verify=tuple(fields["verify"]), escalate=" ".join(fields["escalate"]),
    )


def load_any_runbook(path: Path) -> Runbook:
    """A YAML (`.yaml`, `.yml`) or Markdown (`.md`) runbook file."""
    if path.suffix.lower() == ".md":
        return load_markdown_runbook(path)
    return load_runbook(path)


def package_runbooks(data_dir: Path, taken: set[str]) -> tuple[list[Runbook], list[str]]:
    """The runbooks of every installed marketplace package, and one line per file that could not be used.

    A runbook whose id is in `taken` (or came earlier) is left out, so a package never replaces one.
    """
    runbooks: list[Runbook] = []
    problems: list[str] = []
    seen = set(taken)
    for package, folder in package_folders(data_dir, "runbooks"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in (".md", ".yaml", ".yml"):
                continue
            try:
                runbook = load_any_runbook(path)
            except (RunbookError, OSError, UnicodeDecodeError) as exc:
                problems.append(f"package {package}: {path.name}: {str(exc).replace(str(path) + ': ', '')}")
                continue
            if runbook.id in seen:
                problems.append(f"package {package}: {path.name}: runbook id `{runbook.id}` is taken; left out")
                continue
            seen.add(runbook.id)
            runbooks.append(replace(runbook, origin=package))
    return runbooks, problems


def _runbook_files(directory: Path | None) -> list[Path]:
    """The runbook files of a directory (or of the package), sorted by name."""
    if directory is None:
        base = Path(str(resources.files("hololoom_core.llm") / "runbooks"))
        return sorted(base.glob("*.yaml"))
    return sorted(Path(directory).glob("*.yaml"))


def _stamp(path: Path) -> tuple[int, int]:
    """(mtime in ns, size) of a file: what the library cache compares."""
    status = path.stat()
    return status.st_mtime_ns, status.st_size


@dataclass(frozen=True, slots=True)
class _Index:
    """The searchable form of a set of runbooks (replaced whole, so a search never sees half of two)."""

    runbooks: dict[str, Runbook]
    docs: list[tuple[Runbook, Counter[str]]]
    lengths: list[int]
    avg_length: float
    idf: dict[str, float]
    keyword_patterns: dict[str, list[tuple[str, re.Pattern[str], frozenset[str]]]]
    vocabulary: dict[str, frozenset[str]]


def _build_index(runbooks: list[Runbook]) -> _Index:
    """BM25 statistics, keyword patterns and vocabularies of the runbooks."""
    docs = [(runbook, Counter(terms(runbook.text))) for runbook in runbooks]
    lengths = [sum(counts.values()) for _, counts in docs]
    frequencies: Counter[str] = Counter()
    for _, counts in docs:
        frequencies.update(counts.keys())
    total = len(docs)
    return _Index(
        runbooks={runbook.id: runbook for runbook in runbooks},
        docs=docs,
        lengths=lengths,
        avg_length=(sum(lengths) / len(lengths)) if lengths else 1.0,
        idf={term: math.log(1 + (total - df + 0.5) / (df + 0.5)) for term, df in frequencies.items()},
        keyword_patterns={
            runbook.id: [
                (keyword, re.compile(r"(?<![a-z0-9])" + re.escape(keyword.lower()) + r"(?![a-z0-9])"),
                 term_set(keyword))
                for keyword in runbook.keywords
            ]
            for runbook in runbooks
        },
        vocabulary={runbook.id: term_set(runbook.text) for runbook in runbooks},
    )


class RunbookLibrary:
    """All runbooks, indexed for BM25 search with a boost for the runbook's own keywords."""

    K1 = 1.4
    B = 0.6

    def __init__(self, runbooks: list[Runbook]) -> None:
        self._index = _build_index(runbooks)
        self.version = 0  # grows with every `replace`, so derived indexes know to rebuild

    @classmethod
    def copy_of(cls, library: RunbookLibrary) -> RunbookLibrary:
        """A library of its own that starts with another's runbooks (sharing its index: no rebuild)."""
        copy = cls.__new__(cls)
        copy._index = library._index
        copy.version = 0
        return copy

    @property
    def runbooks(self) -> dict[str, Runbook]:
        """The runbooks by id."""
        return self._index.runbooks

    def replace(self, runbooks: list[Runbook]) -> None:
        """Use these runbooks from now on (a package installed or removed); searches in flight finish on the old."""
        self._index = _build_index(runbooks)
        self.version += 1

    @classmethod
    def from_directory(cls, directory: Path | None = None) -> RunbookLibrary:
        """Every `*.yaml` runbook in a directory (default: the ones shipped in the package).

        Libraries are cached by directory and by each file's name, mtime and size, so every engine of a
        process shares one parsed library until a file changes. Libraries are read-only once built.
        """
        files = _runbook_files(directory)
        key = str(Path(directory).resolve()) if directory is not None else "<shipped>"
        signature = tuple((str(path), *_stamp(path)) for path in files)
        cached = _LIBRARIES.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        library = cls([load_runbook(path) for path in files])
        _LIBRARIES[key] = (signature, library)
        return library

    def get(self, runbook_id: str) -> Runbook | None:
        """The runbook with this id, if any."""
        return self.runbooks.get(runbook_id)

    def __len__(self) -> int:
        return len(self.runbooks)

    def search(self, question: str, limit: int = 3, min_confidence: float = 0.3) -> list[RunbookMatch]:
        """The runbooks that match a question, best first, each with a confidence in [0, 1].

        Confidence combines the runbook's own keywords found in the question with how much of the
        question's meaning (IDF-weighted terms, names of hosts and URLs left out) the runbook covers.
        """
        index = self._index
        lowered = question.lower()
        query_set = set(terms(_strip_names(question)))
        if not query_set:
            return []
        unknown_idf = max(index.idf.values(), default=1.0)
        query_weight = sum(index.idf.get(term, unknown_idf) for term in query_set)
        candidates: list[tuple[Runbook, float, tuple[str, ...], float, int]] = []
        for (runbook, counts), length in zip(index.docs, index.lengths, strict=True):
            bm25 = 0.0
            for term in query_set:
                frequency = counts.get(term, 0)
                if not frequency:
                    continue
                idf = index.idf.get(term, 0.0)
                bm25 += idf * frequency * (self.K1 + 1) / (
                    frequency + self.K1 * (1 - self.B + self.B * length / index.avg_length)
                )
            keywords = tuple(
                keyword
                for keyword, pattern, stems in index.keyword_patterns[runbook.id]
                if pattern.search(lowered) or (len(stems) >= 2 and stems <= query_set)
            )
            if not keywords and bm25 == 0.0:
                continue
            matched = query_set & index.vocabulary[runbook.id]
            coverage = sum(index.idf.get(term, unknown_idf) for term in matched) / query_weight
            candidates.append((runbook, bm25, keywords, coverage, len(matched)))
        best_bm25 = max((candidate[1] for candidate in candidates), default=0.0) or 1.0
        results: list[RunbookMatch] = []
        for runbook, bm25, keywords, coverage, matched_count in candidates:
            relative = bm25 / best_bm25
            if keywords:
                strength = min(1.0, sum(0.6 + 0.2 * (len(k.split()) - 1) for k in keywords))
                confidence = 0.5 * strength + 0.3 * coverage + 0.2 * relative
            else:
                confidence = (0.6 if matched_count >= 2 else 0.3) * coverage * (0.5 + 0.5 * relative)
            confidence = round(min(1.0, confidence), 4)
            if confidence >= min_confidence:
                results.append(RunbookMatch(runbook, confidence, keywords, bm25))
        results.sort(key=lambda match: (match.confidence, match.bm25), reverse=True)
        return results[:limit]


def _strip_names(question: str) -> str:
    """The question without host names, addresses, URLs, commits and file paths (they never match a runbook)."""
    spans = [
        (entity.start, entity.end)
        for entity in extract_entities(question)
        if entity.kind in ("host", "ip", "url", "commit", "file", "incident", "person", "service")
    ]
    for start, end in reversed(spans):
        question = question[:start] + " " + question[end:]
    return question


_LIBRARIES: dict[str, tuple[tuple[tuple[str, int, int], ...], RunbookLibrary]] = {}
