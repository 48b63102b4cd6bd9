"""The runbook knowledge base: YAML files shipped in the package, searched with BM25 plus keyword matches."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

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


class RunbookLibrary:
    """All runbooks, indexed for BM25 search with a boost for the runbook's own keywords."""

    K1 = 1.4
    B = 0.6

    def __init__(self, runbooks: list[Runbook]) -> None:
        self.runbooks = {runbook.id: runbook for runbook in runbooks}
        self._docs = [(runbook, Counter(terms(runbook.text))) for runbook in runbooks]
        self._lengths = [sum(counts.values()) for _, counts in self._docs]
        self._avg_length = (sum(self._lengths) / len(self._lengths)) if self._lengths else 1.0
        frequencies: Counter[str] = Counter()
        for _, counts in self._docs:
            frequencies.update(counts.keys())
        total = len(self._docs)
        self._idf = {term: math.log(1 + (total - df + 0.5) / (df + 0.5)) for term, df in frequencies.items()}
        self._keyword_patterns = {
            runbook.id: [
                (
                    keyword,
                    re.compile(r"(?<![a-z0-9])" + re.escape(keyword.lower()) + r"(?![a-z0-9])"),
                    term_set(keyword),
                )
                for keyword in runbook.keywords
            ]
            for runbook in runbooks
        }
        self._vocabulary = {runbook.id: term_set(runbook.text) for runbook in runbooks}

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
        lowered = question.lower()
        query_set = set(terms(_strip_names(question)))
        if not query_set:
            return []
        unknown_idf = max(self._idf.values(), default=1.0)
        query_weight = sum(self._idf.get(term, unknown_idf) for term in query_set)
        candidates: list[tuple[Runbook, float, tuple[str, ...], float, int]] = []
        for (runbook, counts), length in zip(self._docs, self._lengths, strict=True):
            bm25 = 0.0
            for term in query_set:
                frequency = counts.get(term, 0)
                if not frequency:
                    continue
                idf = self._idf.get(term, 0.0)
                bm25 += idf * frequency * (self.K1 + 1) / (
                    frequency + self.K1 * (1 - self.B + self.B * length / self._avg_length)
                )
            keywords = tuple(
                keyword
                for keyword, pattern, stems in self._keyword_patterns[runbook.id]
                if pattern.search(lowered) or (len(stems) >= 2 and stems <= query_set)
            )
            if not keywords and bm25 == 0.0:
                continue
            matched = query_set & self._vocabulary[runbook.id]
            coverage = sum(self._idf.get(term, unknown_idf) for term in matched) / query_weight
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
