"""Mining: which answered questions and resolved incidents are good enough, and allowed, to learn from.

A question-answer pair is a training candidate when its room consents, its asker has not opted out,
the judge scored it at or above `learning.min_quality`, someone gave it a 👍, nobody a 👎, and the asker
did not ask again (a re-ask is recorded by `promptly.reask` as feedback with source `reask`). Answers
with a 👎 or a re-ask are kept aside as the *rejected* side of preference pairs. Resolved incidents with
a stated root cause become examples of their own. Every record that is left out is counted with its
reason. Near-duplicate questions are then collapsed (`dedup`), keeping the best-scored answer of each
cluster, and every kept text is cleaned for the way out (`cleaning`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hololoom_core.config.learning import LearningConfig
from hololoom_core.learning.cleaning import OutboundCleaner, RedactionLog
from hololoom_core.learning.consent import room_consent
from hololoom_core.learning.dedup import NearDuplicates
from hololoom_core.store.db import Store
from hololoom_core.text.entities import entities_of_kind

Progress = Callable[[str, int, int], None]

KEPT, DUPLICATE, EXCLUDED, REJECTED = "kept", "duplicate", "excluded", "rejected"

# The reasons a record is left out, in the order they are checked (the first that applies is counted).
REASON_ROOM = "room not opted in"
REASON_USER = "asker opted out"
REASON_EMPTY = "empty question or answer"
REASON_QUALITY = "judged below the quality bar"
REASON_THUMBS_DOWN = "👎 received"
REASON_REASK = "asked again (re-ask)"
REASON_NO_THUMBS_UP = "no 👍 yet"
REASON_NO_ROOT_CAUSE = "resolved without a stated root cause"

_TLDR = re.compile(r"(?im)^\s*(?:#+\s*)?\**TL;DR\**:?\s*(.+)$")


@dataclass(slots=True)
class MinedExample:
    """One interaction or resolved incident, what the miner decided about it and why."""

    key: str
    source: str  # "interaction" or "incident"
    interaction_id: int | None
    incident: str | None
    room_id: str | None
    asker: str | None
    question: str
    answer: str
    agent: str
    quality: float
    criteria: dict[str, float]
    up: int
    down: int
    reasked: bool
    created_ts: float
    question_event: str | None
    answer_event: str | None
    question_message_id: int | None
    resolved: bool = False
    root_cause: str | None = None
    resolution: str | None = None
    incidents: list[str] = field(default_factory=list)
    consent: dict[str, str] = field(default_factory=dict)
    runbooks: list[str] = field(default_factory=list)
    topic: str = "general"
    status: str = EXCLUDED
    reason: str = ""
    detail: str = ""
    duplicate_of: str | None = None
    duplicates: list[str] = field(default_factory=list)
    clean_question: str = ""
    clean_answer: str = ""
    clean_root_cause: str | None = None
    redactions: list[str] = field(default_factory=list)

    @property
    def positive(self) -> bool:
        """A 👍 with no 👎 and no re-ask."""
        return self.up > 0 and self.down == 0 and not self.reasked

    @property
    def negative(self) -> bool:
        """A 👎 or a re-ask: the answer did not help."""
        return self.down > 0 or self.reasked

    def summary(self) -> str:
        """The answer's TL;DR line, or its first 160 characters."""
        text = self.clean_answer or self.answer
        match = _TLDR.search(text)
        line = match.group(1) if match else text.strip().splitlines()[0] if text.strip() else ""
        return line.strip()[:200]


@dataclass(slots=True)
class PreferencePair:
    """A 👍 answer and a 👎 (or re-asked) answer to the same question."""

    chosen: MinedExample
    rejected: MinedExample


@dataclass(slots=True)
class MiningReport:
    """What mining found: every record with its status, the preference pairs, counts and the redaction log."""

    examples: list[MinedExample]
    pairs: list[PreferencePair]
    log: RedactionLog
    min_quality: float
    since: float | None
    clusters: int = 0
    dedup_candidates: int = 0

    @property
    def kept(self) -> list[MinedExample]:
        """The training examples, in time order."""
        return [example for example in self.examples if example.status == KEPT]

    def counts(self) -> dict[str, Any]:
        """Records per status, and the excluded ones per reason."""
        statuses = Counter(example.status for example in self.examples)
        reasons = Counter(example.reason for example in self.examples if example.status in (EXCLUDED, REJECTED))
        return {
            "records": len(self.examples),
            "kept": statuses.get(KEPT, 0),
            "duplicate": statuses.get(DUPLICATE, 0),
            "excluded": statuses.get(EXCLUDED, 0) + statuses.get(REJECTED, 0),
            "redacted": sum(1 for example in self.examples if example.status == KEPT and example.redactions),
            "preference_pairs": len(self.pairs),
            "excluded_by_reason": dict(reasons.most_common()),
            "sources": dict(Counter(example.source for example in self.kept)),
        }


def id_hasher(salt: bytes) -> Callable[[str | None], str | None]:
    """A keyed hash (HMAC-SHA256, first 16 hex digits) of room and event ids: stable, not reversible by guessing."""

    def hashed(value: str | None) -> str | None:
        if value is None:
            return None
        return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    return hashed


def _table_exists(store: Store, name: str) -> bool:
    return store.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None


def _criteria(scores: dict[str, Any]) -> dict[str, float]:
    criteria = scores.get("criteria", {}) if isinstance(scores, dict) else {}
    result: dict[str, float] = {}
    for name, item in criteria.items():
        value = item.get("score") if isinstance(item, dict) else item
        if isinstance(value, (int, float)):
            result[str(name)] = round(float(value), 4)
    return result


def topic_of(question: str, runbooks: list[str], agent: str) -> str:
    """The topic a question belongs to: the runbook its answer used, else the service it names, else its agent."""
    if runbooks:
        return runbooks[0]
    services = entities_of_kind(question, "service")
    if services:
        return f"service-{services[0].lower()}"
    return f"agent-{agent}"


class Miner:
    """Reads interactions, feedback and incidents from the store and decides what to learn from."""

    def __init__(self, store: Store, config: LearningConfig, *, opted_out: Iterable[str] = (),
                 members: Iterable[str] = ()) -> None:
        self.store = store
        self.config = config
        self.opted_out = set(opted_out)
        self.members = list(members)
        self._outbound: OutboundCleaner | None = None

    def mine(self, *, min_quality: float | None = None, since: float | None = None,
             progress: Progress | None = None) -> MiningReport:
        """Every record since `since` with its status; kept ones deduplicated and cleaned."""
        bar = self.config.min_quality if min_quality is None else min_quality
        examples = self._interactions(since)
        examples += self._incidents(since)
        windows = self._resolved_windows()
        for example in examples:
            if example.source == "interaction":
                self._mark_resolved(example, windows)
            self._judge(example, bar)
        if progress:
            progress("mined", len(examples), len(examples))
        report = MiningReport(examples, [], RedactionLog(), bar, since)
        self._collapse(report)
        self._clean(report, progress)
        return report

    # -- reading -------------------------------------------------------------------------------

    def _interactions(self, since: float | None) -> list[MinedExample]:
        rows = self.store.query(
            "SELECT i.id, i.room_id, i.asker, i.query, i.answer, i.agent, i.quality, i.scores, i.sources, "
            "i.created_ts, i.message_id, qm.event_id AS question_event, rm.event_id AS answer_event, "
            "r.transport AS transport, "
            "(SELECT count(*) FROM feedback f WHERE f.interaction_id = i.id AND f.value > 0 AND f.source != 'reask') "
            "AS up, "
            "(SELECT count(*) FROM feedback f WHERE f.interaction_id = i.id AND f.value < 0 AND f.source != 'reask') "
            "AS down, "
            "(SELECT count(*) FROM feedback f WHERE f.interaction_id = i.id AND f.source = 'reask') AS reasks "
            "FROM interactions i LEFT JOIN messages qm ON qm.id = i.message_id "
            "LEFT JOIN messages rm ON rm.id = i.reply_message_id LEFT JOIN rooms r ON r.room_id = i.room_id "
            "WHERE i.created_ts >= ? ORDER BY i.id",
            (since if since is not None else float("-inf"),),
        )
        examples = []
        for row in rows:
            sources = json.loads(row["sources"] or "[]")
            runbooks = [str(s.get("ref")) for s in sources if isinstance(s, dict) and s.get("kind") == "runbook"]
            consent = room_consent(self.config, row["room_id"], row["transport"] or "local")
            example = MinedExample(
                key=f"interaction:{row['id']}", source="interaction", interaction_id=int(row["id"]), incident=None,
                room_id=row["room_id"], asker=row["asker"], question=row["query"], answer=row["answer"],
                agent=row["agent"], quality=float(row["quality"]), criteria=_criteria(json.loads(row["scores"])),
                up=int(row["up"]), down=int(row["down"]), reasked=int(row["reasks"]) > 0,
                created_ts=float(row["created_ts"]), question_event=row["question_event"],
                answer_event=row["answer_event"], question_message_id=row["message_id"], runbooks=runbooks,
                consent={"room": "opted in" if consent.allowed else "not opted in", "room_basis": consent.basis},
            )
            example.topic = topic_of(example.question, runbooks, example.agent)
            examples.append(example)
        return examples

    def _incidents(self, since: float | None) -> list[MinedExample]:
        if not _table_exists(self.store, "incidents"):
            return []
        rows = self.store.query(
            "SELECT n.*, r.transport AS transport, m.event_id AS declared_event FROM incidents n "
            "LEFT JOIN rooms r ON r.room_id = n.room_id LEFT JOIN messages m ON m.id = n.declared_message_id "
            "WHERE n.status = 'resolved' AND n.resolved_ts >= ? ORDER BY n.id",
            (since if since is not None else float("-inf"),),
        )
        examples = []
        for row in rows:  # an incident is not judged: its quality (1.0 here) is exported as null
            key = f"INC-{row['id']}"
            consent = room_consent(self.config, row["room_id"], row["transport"] or "local")
            question = f"Incident {key} ({row['severity']}): {row['title']}. What was the root cause and how was it resolved?"
            parts = []
            if row["root_cause"]:
                parts.append(f"Root cause (as stated in the postmortem): {row['root_cause']}")
            if row["resolution"]:
                parts.append(f"Resolution (as stated by {row['resolved_by']}): {row['resolution']}")
            duration = (row["resolved_ts"] or row["declared_ts"]) - row["declared_ts"]
            parts.append(f"Resolved after {duration / 60:.0f} minutes.")
            example = MinedExample(
                key=f"incident:{key}", source="incident", interaction_id=None, incident=key, room_id=row["room_id"],
                asker=row["declared_by"], question=question, answer="\n\n".join(parts), agent="incident",
                quality=1.0, criteria={}, up=0, down=0, reasked=False, created_ts=float(row["resolved_ts"]),
                question_event=row["declared_event"], answer_event=None, question_message_id=None, resolved=True,
                root_cause=row["root_cause"], resolution=row["resolution"], incidents=[key],
                consent={"room": "opted in" if consent.allowed else "not opted in", "room_basis": consent.basis},
            )
            example.topic = topic_of(row["title"] + " " + (row["root_cause"] or ""), [], "incident")
            examples.append(example)
        return examples

    def _resolved_windows(self) -> dict[str, list[tuple[float, float, str, str | None]]]:
        """Per room, the (declared, resolved, key, root cause) of its resolved incidents."""
        if not _table_exists(self.store, "incidents"):
            return {}
        windows: dict[str, list[tuple[float, float, str, str | None]]] = {}
        for row in self.store.query("SELECT id, room_id, declared_ts, resolved_ts, root_cause FROM incidents "
                                    "WHERE status = 'resolved'"):
            windows.setdefault(row["room_id"], []).append(
                (row["declared_ts"], row["resolved_ts"], f"INC-{row['id']}", row["root_cause"]))
        return windows

    @staticmethod
    def _mark_resolved(example: MinedExample, windows: dict[str, list[tuple[float, float, str, str | None]]]) -> None:
        for declared, resolved, key, root_cause in windows.get(example.room_id or "", []):
            if declared <= example.created_ts <= resolved:
                example.resolved = True
                example.incidents.append(key)
                example.root_cause = example.root_cause or root_cause

    # -- deciding ------------------------------------------------------------------------------

    def _judge(self, example: MinedExample, bar: float) -> None:
        user_out = example.asker is not None and example.asker in self.opted_out
        example.consent["user"] = "opted out" if user_out else "not opted out"
        if example.consent["room"] != "opted in":
            example.reason, example.detail = REASON_ROOM, f"{example.consent['room_basis']} is off"
        elif user_out:
            example.reason, example.detail = REASON_USER, "`!learning optout`"
        elif not example.question.strip() or not example.answer.strip():
            example.reason = REASON_EMPTY
        elif example.source == "incident":
            if example.root_cause:
                example.status = KEPT
            else:
                example.reason = REASON_NO_ROOT_CAUSE
            return
        elif example.down > 0:
            example.status, example.reason, example.detail = REJECTED, REASON_THUMBS_DOWN, f"{example.down} 👎"
        elif example.reasked:
            example.status, example.reason = REJECTED, REASON_REASK
        elif example.quality < bar:
            example.reason, example.detail = REASON_QUALITY, f"{example.quality:.2f} < {bar:.2f}"
        elif example.up == 0:
            example.reason = REASON_NO_THUMBS_UP
        else:
            example.status = KEPT

    def _collapse(self, report: MiningReport) -> None:
        """Cluster the kept and rejected questions; keep the best-scored answer per cluster, pair 👍 with 👎."""
        pool = [example for example in report.examples if example.status in (KEPT, REJECTED)
                and example.source == "interaction"]
        finder = NearDuplicates(threshold=self.config.dedup_threshold, lsh_threshold=self.config.lsh_threshold,
                                num_perm=self.config.num_perm, shingle_size=self.config.shingle_size)
        # Compared as they will be exported: two questions that differ only in a redacted value are the same.
        cleaner = self._cleaner()
        result = finder.find([cleaner.clean(example.question)[0] for example in pool])
        report.clusters = len(result.clusters)
        report.dedup_candidates = result.candidates
        for cluster in result.clusters:
            members = [pool[index] for index in cluster]
            good = sorted((m for m in members if m.status == KEPT),
                          key=lambda m: (m.quality, m.up, m.created_ts), reverse=True)
            if good:
                best = good[0]
                for other in good[1:]:
                    other.status, other.duplicate_of = DUPLICATE, best.key
                    other.reason = "near-duplicate question"
                    other.detail = f"kept {best.key} (quality {best.quality:.2f})"
                    best.duplicates.append(other.key)
                for bad in members:
                    if bad.status == REJECTED:
                        report.pairs.append(PreferencePair(best, bad))

    def _cleaner(self) -> OutboundCleaner:
        if self._outbound is None:
            self._outbound = OutboundCleaner(members=self.members if self.config.redact_member_names else (),
                                             ips=self.config.redact_ips)
        return self._outbound

    def _clean(self, report: MiningReport, progress: Progress | None) -> None:
        cleaner = self._cleaner()
        wanted = {id(example): example for example in report.kept}
        for pair in report.pairs:
            wanted[id(pair.rejected)] = pair.rejected
        total = len(wanted)
        for done, example in enumerate(wanted.values(), start=1):
            example.clean_question, kinds_q = cleaner.clean_field(example.question, example.key, "question",
                                                                  report.log)
            example.clean_answer, kinds_a = cleaner.clean_field(example.answer, example.key, "answer", report.log)
            kinds_r: list[str] = []
            if example.root_cause:
                example.clean_root_cause, kinds_r = cleaner.clean_field(example.root_cause, example.key,
                                                                        "root_cause", report.log)
            example.redactions = sorted(set(kinds_q) | set(kinds_a) | set(kinds_r))
            if progress and (done % 500 == 0 or done == total):
                progress("cleaned", done, total)
