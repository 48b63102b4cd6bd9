"""The dataset export: `train.jsonl` (chat messages with provenance), `preference.jsonl`, the card, the log.

Records follow TRL's conversational formats (`{"messages": [...]}` and `{"prompt", "chosen", "rejected"}`);
each one is validated against the JSON Schemas shipped in `hololoom_core/learning/schemas/` before it is
written, and a record that fails stops the export with its key and the schema path. Files are 0600.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from hololoom_core.config.learning import LearningConfig
from hololoom_core.learning.card import dataset_card
from hololoom_core.learning.files import ExportError, private_directory, write_private
from hololoom_core.learning.mining import MinedExample, MiningReport, PreferencePair

Progress = Callable[[str, int, int], None]
FORMATS = ("messages", "preference", "both")


@cache
def schema(name: str) -> dict[str, Any]:
    """A shipped JSON Schema by name (`train_record` or `preference_record`)."""
    text = (resources.files("hololoom_core.learning") / "schemas" / f"{name}.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


def validation_errors(record: dict[str, Any], name: str) -> list[str]:
    """Every way `record` breaks schema `name`, as `path: message` lines (empty when it is valid)."""
    errors = []
    for error in _validator(name).iter_errors(record):
        where = "/".join(str(part) for part in error.absolute_path) or "(record)"
        errors.append(f"{where}: {error.message}")
    return errors


def iso_time(ts: float) -> str:
    """A UTC ISO 8601 timestamp (seconds)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class ExportSummary:
    """What an export wrote: where, how many records of each kind, and what it rests on."""

    directory: str
    files: dict[str, int]
    counts: dict[str, Any]
    redactions: dict[str, int]
    redacted_records: int
    min_quality: float
    since: str | None
    format: str
    ts: float
    card: str
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (stored as the last export, printed by `--json`)."""
        return {
            "directory": self.directory, "files": self.files, "counts": self.counts, "redactions": self.redactions,
            "redacted_records": self.redacted_records, "min_quality": self.min_quality, "since": self.since,
            "format": self.format, "ts": self.ts, "card": self.card,
        }


class DatasetWriter:
    """Turns a mining report into validated records and writes the dataset directory."""

    def __init__(self, config: LearningConfig, hash_id: Callable[[str | None], str | None]) -> None:
        self.config = config
        self.hash_id = hash_id

    def train_record(self, example: MinedExample) -> dict[str, Any]:
        """One kept example in the chat messages format, provenance in `metadata`."""
        return {
            "messages": [
                {"role": "system", "content": self.config.system_prompt},
                {"role": "user", "content": example.clean_question},
                {"role": "assistant", "content": example.clean_answer},
            ],
            "metadata": {
                "source": example.source,
                "interaction_id": example.interaction_id,
                "incident": example.incident,
                "room_hash": self.hash_id(example.room_id),
                "question_event_hash": self.hash_id(example.question_event),
                "answer_event_hash": self.hash_id(example.answer_event),
                "time": iso_time(example.created_ts),
                "agent": example.agent,
                "quality": round(example.quality, 4) if example.source == "interaction" else None,  # not judged
                "criteria": example.criteria,
                "reactions": {"up": example.up, "down": example.down, "reasked": example.reasked},
                "resolved": example.resolved,
                "root_cause": example.clean_root_cause,
                "incidents": example.incidents,
                "consent": {"room": example.consent["room"], "room_basis": example.consent["room_basis"],
                            "user": example.consent["user"]},
                "redactions": example.redactions,
                "duplicates_collapsed": len(example.duplicates),
                "topic": example.topic,
                "license": self.config.license,
            },
        }

    def preference_record(self, pair: PreferencePair) -> dict[str, Any]:
        """One 👍/👎 pair in the conversational preference format."""
        chosen, rejected = pair.chosen, pair.rejected
        assert chosen.interaction_id is not None and rejected.interaction_id is not None
        return {
            "prompt": [
                {"role": "system", "content": self.config.system_prompt},
                {"role": "user", "content": chosen.clean_question},
            ],
            "chosen": [{"role": "assistant", "content": chosen.clean_answer}],
            "rejected": [{"role": "assistant", "content": rejected.clean_answer}],
            "metadata": {
                "chosen_interaction_id": chosen.interaction_id,
                "rejected_interaction_id": rejected.interaction_id,
                "room_hash": self.hash_id(chosen.room_id),
                "time": iso_time(max(chosen.created_ts, rejected.created_ts)),
                "chosen_quality": round(chosen.quality, 4),
                "rejected_quality": round(rejected.quality, 4),
                "rejected_because": rejected.reason,
                "reactions": {"chosen_up": chosen.up, "rejected_down": rejected.down,
                              "rejected_reasked": rejected.reasked},
                "redactions": sorted(set(chosen.redactions) | set(rejected.redactions)),
                "license": self.config.license,
            },
        }

    def _lines(self, records: list[dict[str, Any]], schema_name: str, keys: list[str], label: str,
               progress: Progress | None) -> Iterator[str]:
        total = len(records)
        for done, (record, key) in enumerate(zip(records, keys, strict=True), start=1):
            errors = validation_errors(record, schema_name)
            if errors:
                raise ExportError(f"{key}: does not match {schema_name}.schema.json ({errors[0]})")
            yield json.dumps(record, ensure_ascii=False) + "\n"
            if progress and (done % 250 == 0 or done == total):
                progress(label, done, total)

    def write(self, report: MiningReport, directory: Path, *, fmt: str = "both", since_text: str | None = None,
              command: str = "", progress: Progress | None = None, now: float = 0.0) -> ExportSummary:
        """Write the dataset files into `directory` (created 0700) and return what was written."""
        if fmt not in FORMATS:
            raise ExportError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
        private_directory(directory)
        files: dict[str, int] = {}
        kept = report.kept
        if fmt in ("messages", "both"):
            records = [self.train_record(example) for example in kept]
            write_private(directory / "train.jsonl",
                          self._lines(records, "train_record", [e.key for e in kept], "train.jsonl", progress))
            files["train.jsonl"] = len(records)
        if fmt in ("preference", "both"):
            pairs = report.pairs
            records = [self.preference_record(pair) for pair in pairs]
            keys = [f"{pair.chosen.key}/{pair.rejected.key}" for pair in pairs]
            write_private(directory / "preference.jsonl",
                          self._lines(records, "preference_record", keys, "preference.jsonl", progress))
            files["preference.jsonl"] = len(records)
        write_private(directory / "redaction_log.jsonl",
                      (json.dumps(entry.as_dict()) + "\n" for entry in report.log.entries))
        files["redaction_log.jsonl"] = len(report.log.entries)
        for name in ("train_record", "preference_record"):
            write_private(directory / f"{name}.schema.json", [json.dumps(schema(name), indent=2) + "\n"])
        summary = ExportSummary(
            directory=str(directory), files=files, counts=report.counts(), redactions=report.log.totals(),
            redacted_records=report.log.records(), min_quality=report.min_quality, since=since_text, format=fmt,
            ts=now, card=str(directory / "README.md"),
        )
        write_private(directory / "README.md", [dataset_card(self.config, summary, report, command)])
        files["README.md"] = 1
        return summary
