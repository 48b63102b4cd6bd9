"""The shipped question bank: realistic ops questions, each with what a satisfying answer must contain."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

QUESTION_TYPES = ("incident", "security", "code_review", "deployment", "general")


class QuestionBankError(Exception):
    """A question bank file that cannot be used, in one line naming the file and the entry."""


@dataclass(frozen=True, slots=True)
class BankQuestion:
    """One question: its wording, a paraphrase for a re-ask, its type and what the answer must contain.

    `runbook` is the runbook that answers it (satisfied when it is among the answer's sources);
    `needs` are phrases of which one must appear in the answer text or a cited source.
    """

    id: str
    type: str
    text: str
    paraphrase: str
    runbook: str | None = None
    needs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    """Something a teammate once wrote in the room; the simulation seeds the room with these first."""

    type: str
    body: str


@dataclass(frozen=True, slots=True)
class QuestionBank:
    """Questions plus the team history that answers the ones no runbook covers."""

    questions: tuple[BankQuestion, ...]
    history: tuple[HistoryMessage, ...]

    def by_type(self) -> dict[str, list[BankQuestion]]:
        """The questions grouped by type, in bank order."""
        groups: dict[str, list[BankQuestion]] = {kind: [] for kind in QUESTION_TYPES}
        for question in self.questions:
            groups.setdefault(question.type, []).append(question)
        return groups


def default_bank_path() -> Path:
    """The bank shipped in the package."""
    return Path(str(resources.files("hololoom_core.improving") / "data" / "questions.yaml"))


def _pair(entry: object, where: str) -> tuple[str, str]:
    if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(x, str) and x.strip() for x in entry)):
        raise QuestionBankError(f"{where}: each question must be [question, paraphrase], two non-empty strings")
    return entry[0].strip(), entry[1].strip()


def _kind(value: object, where: str) -> str:
    if value not in QUESTION_TYPES:
        raise QuestionBankError(f"{where}: type must be one of {', '.join(QUESTION_TYPES)}, not {value!r}")
    return str(value)


def load_bank(path: Path | None = None) -> QuestionBank:
    """Read and validate a question bank (default: the shipped one)."""
    path = path or default_bank_path()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        raise QuestionBankError(f"{path}: cannot read the question bank ({exc})") from None
    if not isinstance(data, dict):
        raise QuestionBankError(f"{path}: expected a mapping with runbook_questions and team_knowledge")
    questions: list[BankQuestion] = []
    history: list[HistoryMessage] = []
    for runbook, entry in (data.get("runbook_questions") or {}).items():
        where = f"{path}: runbook_questions.{runbook}"
        if not isinstance(entry, dict):
            raise QuestionBankError(f"{where}: expected a mapping with type and questions")
        kind = _kind(entry.get("type"), where)
        for number, pair in enumerate(entry.get("questions") or [], start=1):
            text, paraphrase = _pair(pair, f"{where}.questions[{number}]")
            questions.append(BankQuestion(f"{runbook}-{number}", kind, text, paraphrase, runbook=str(runbook)))
    for index, entry in enumerate(data.get("team_knowledge") or [], start=1):
        where = f"{path}: team_knowledge[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("history"), str):
            raise QuestionBankError(f"{where}: expected a mapping with type, history, needs and questions")
        kind = _kind(entry.get("type"), where)
        needs = entry.get("needs")
        if not (isinstance(needs, list) and needs and all(isinstance(n, str) and n for n in needs)):
            raise QuestionBankError(f"{where}: needs must be a non-empty list of phrases")
        missing = [n for n in needs if n.lower() not in entry["history"].lower()]
        if missing:
            raise QuestionBankError(f"{where}: needs {missing[0]!r} does not occur in its history message")
        history.append(HistoryMessage(kind, entry["history"].strip()))
        for number, pair in enumerate(entry.get("questions") or [], start=1):
            text, paraphrase = _pair(pair, f"{where}.questions[{number}]")
            questions.append(BankQuestion(f"{kind}-{index}-{number}", kind, text, paraphrase, needs=tuple(needs)))
    if not questions:
        raise QuestionBankError(f"{path}: the bank has no questions")
    return QuestionBank(tuple(questions), tuple(history))
