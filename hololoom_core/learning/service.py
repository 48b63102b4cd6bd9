"""The team learning service: mine, export, write docs, promote a page to a runbook candidate, consent.

`engine.capability(TeamLearning)` gives it to the CLI (`hololoom learn`, `hololoom feedback`), the chat
commands (`!learning`) and the app's Team Learning tab. Mining and writing are plain CPU and file work
(no bus events, store reads under its lock), so the app runs them in a worker thread.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hololoom_core.learning.cleaning import OutboundCleaner, RedactionLog
from hololoom_core.learning.consent import OptOuts
from hololoom_core.learning.docs import (
    Decision,
    TopicPage,
    TopicWriter,
    group_topics,
    keywords,
    runbook_steps,
    slugify,
)
from hololoom_core.learning.export import DatasetWriter, ExportSummary, Progress
from hololoom_core.learning.files import ExportError, private_directory, write_private
from hololoom_core.learning.mining import Miner, MiningReport, id_hasher
from hololoom_core.llm.runbooks import load_runbook

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

SALT_KEY = "learning.id_salt"


class LearningError(Exception):
    """A team learning request that cannot be done, as one line (unknown topic, nothing to promote ...)."""


@dataclass(slots=True)
class DocsSummary:
    """What `learn docs` wrote: the directory, the pages (slug -> file) and the index."""

    directory: str
    pages: dict[str, str]
    index: str
    redactions: dict[str, int]
    ts: float

    def as_dict(self) -> dict[str, Any]:
        """Plain data (stored as the last docs run, printed by `--json`)."""
        return {"directory": self.directory, "pages": self.pages, "index": self.index,
                "redactions": self.redactions, "ts": self.ts}


@dataclass(slots=True)
class RunbookCandidate:
    """A best-practice page turned into a runbook draft, waiting for review (it answers nothing until then)."""

    id: str
    topic: str
    title: str
    path: str
    status: str
    created_by: str
    created_ts: float


class TeamLearning:
    """Team learning over one engine's store and `learning:` config."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.config = engine.config.learning
        self.optouts = OptOuts(engine.store)
        self.last_report: MiningReport | None = None

    # -- consent -------------------------------------------------------------------------------

    def opt_out(self, user_id: str, room_id: str | None = None) -> bool:
        """Stop learning from `user_id`'s questions; False when already opted out."""
        return self.optouts.opt_out(user_id, room_id, self.engine.clock.now())

    def opt_in(self, user_id: str) -> bool:
        """Learn from `user_id` again; False when they had not opted out."""
        return self.optouts.opt_in(user_id)

    # -- mining ---------------------------------------------------------------------------------

    def id_salt(self) -> bytes:
        """This installation's key for hashing room and event ids (created once, kept in `kv_state`)."""
        value = self.store.scalar("SELECT value FROM kv_state WHERE key = ?", (SALT_KEY,))
        if value is None:
            value = secrets.token_hex(16)
            with self.store.transaction() as conn:
                conn.execute("INSERT INTO kv_state(key, value, ts) VALUES (?, ?, ?) ON CONFLICT(key) DO NOTHING",
                             (SALT_KEY, value, time.time()))
            value = self.store.scalar("SELECT value FROM kv_state WHERE key = ?", (SALT_KEY,))
        return bytes.fromhex(str(value))

    def members(self) -> list[str]:
        """Display names and ids of the people seen in the rooms (the bot excluded): redacted on the way out."""
        names: list[str] = []
        for row in self.store.query("SELECT user_id, display_name FROM users WHERE is_bot = 0"):
            names.append(row["user_id"])
            if row["display_name"]:
                names.append(row["display_name"])
        bot = {self.engine.config.bot.name.lower(), self.engine.config.bot.display_name.lower()}
        return [name for name in names if name.lower().lstrip("@") not in bot]

    def mine(self, *, min_quality: float | None = None, since: float | None = None,
             progress: Progress | None = None) -> MiningReport:
        """Mine the store now (see `mining.Miner`); the report is also kept as `last_report`."""
        miner = Miner(self.store, self.config, opted_out=self.optouts.users(), members=self.members())
        report = miner.mine(min_quality=min_quality, since=since, progress=progress)
        self.last_report = report
        return report

    # -- export ---------------------------------------------------------------------------------

    def export(self, directory: Path, *, min_quality: float | None = None, since: float | None = None,
               since_text: str | None = None, fmt: str = "both", progress: Progress | None = None,
               command: str = "") -> ExportSummary:
        """Mine, then write the dataset directory; the summary is stored as the last export."""
        report = self.mine(min_quality=min_quality, since=since, progress=progress)
        writer = DatasetWriter(self.config, id_hasher(self.id_salt()))
        if not command:
            parts = ["hololoom learn export", str(directory)]
            if min_quality is not None:
                parts.append(f"--min-quality {min_quality}")
            if since_text:
                parts.append(f"--since {since_text}")
            parts.append(f"--format {fmt}")
            command = " ".join(parts)
        summary = writer.write(report, directory, fmt=fmt, since_text=since_text, command=command,
                               progress=progress, now=self.engine.clock.now())
        self._remember("export", str(directory), summary.as_dict())
        return summary

    def _remember(self, kind: str, path: str, summary: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO learning_exports(ts, kind, path, summary) VALUES (?, ?, ?, ?)",
                         (self.engine.clock.now(), kind, path, json.dumps(summary)))

    def last(self, kind: str = "export") -> dict[str, Any] | None:
        """The newest export (or docs run) summary, or None."""
        row = self.store.query_one("SELECT summary FROM learning_exports WHERE kind = ? ORDER BY id DESC LIMIT 1",
                                   (kind,))
        return json.loads(row["summary"]) if row else None

    # -- documentation ----------------------------------------------------------------------------

    def _decisions(self, report: MiningReport) -> dict[str, list[Decision]]:
        decisions: dict[str, list[Decision]] = {}
        keys = [e.incident for e in report.examples if e.source == "incident" and e.incident]
        for key in keys:
            row = self.store.query_one("SELECT room_id, declared_ts, resolved_ts FROM incidents WHERE id = ?",
                                       (int(key.split("-")[1]),))
            if row is None:
                continue
            rows = self.store.query(
                "SELECT text, room_id, ts, message_id FROM insights WHERE kind = 'decision' AND room_id = ? "
                "AND ts BETWEEN ? AND ? ORDER BY ts", (row["room_id"], row["declared_ts"], row["resolved_ts"]))
            decisions[key] = [Decision(r["text"], r["room_id"], r["ts"], r["message_id"]) for r in rows]
        return decisions

    def generate_docs(self, directory: Path, *, topic: str | None = None, min_quality: float | None = None,
                      progress: Progress | None = None) -> DocsSummary:
        """Write one best-practice page per topic (or only `topic`) and an index into `directory`."""
        report = self.mine(min_quality=min_quality, progress=progress)
        topics = group_topics(report)
        if topic is not None:
            wanted = slugify(topic)
            if wanted not in topics:
                known = ", ".join(sorted(topics)) or "none yet (no kept examples)"
                raise LearningError(f"no topic '{topic}'; topics: {known}")
            topics = {wanted: topics[wanted]}
        titles = {slug: runbook.title for slug in topics if (runbook := self.engine.runbooks.get(slug))}
        cleaner = OutboundCleaner(members=self.members() if self.config.redact_member_names else (),
                                  ips=self.config.redact_ips)
        log = RedactionLog()
        now = self.engine.clock.now()
        writer = TopicWriter(cleaner, log, titles, self._decisions(report), report.min_quality, now)
        private_directory(directory)
        pages: list[TopicPage] = []
        files: dict[str, str] = {}
        for done, (slug, members) in enumerate(sorted(topics.items()), start=1):
            page = writer.page(slug, members, report)
            pages.append(page)
            path = directory / f"{slug}.md"
            write_private(path, [page.markdown])
            files[slug] = str(path)
            if progress:
                progress("pages", done, len(topics))
        index = directory / "index.md"
        write_private(index, [writer.index(pages)])
        with self.store.transaction() as conn:
            for page in pages:
                conn.execute("INSERT INTO learning_topics(slug, title, page, data, generated_ts) VALUES (?, ?, ?, ?, ?) "
                             "ON CONFLICT(slug) DO UPDATE SET title = excluded.title, page = excluded.page, "
                             "data = excluded.data, generated_ts = excluded.generated_ts",
                             (page.slug, page.title, page.markdown, json.dumps(page.data()), now))
        summary = DocsSummary(str(directory), files, str(index), log.totals(), now)
        self._remember("docs", str(directory), summary.as_dict())
        return summary

    def topics(self) -> list[dict[str, Any]]:
        """The generated topic pages: slug, title, questions, best quality, generated time."""
        result = []
        for row in self.store.query("SELECT slug, title, data, generated_ts FROM learning_topics ORDER BY slug"):
            data = json.loads(row["data"])
            best = data.get("best") or {}
            result.append({"slug": row["slug"], "title": row["title"], "examples": data.get("examples", 0),
                           "best_quality": best.get("quality"), "questions": data.get("questions", [])[:3],
                           "generated_ts": row["generated_ts"]})
        return result

    # -- runbook candidates ---------------------------------------------------------------------------

    @property
    def candidates_dir(self) -> Path:
        """Where runbook candidates are written (never a directory runbooks are loaded from)."""
        return self.engine.config.data_dir / "runbook_candidates"

    def promote(self, topic: str, user: str) -> RunbookCandidate:
        """Turn a generated topic page into a runbook candidate, stored for review (status `review`)."""
        slug = slugify(topic)
        row = self.store.query_one("SELECT title, data FROM learning_topics WHERE slug = ?", (slug,))
        if row is None:
            known = ", ".join(r[0] for r in self.store.query("SELECT slug FROM learning_topics ORDER BY slug"))
            raise LearningError(f"no generated page for topic '{topic}' (run `hololoom learn docs DIR` first); "
                                f"pages: {known or 'none'}")
        data = json.loads(row["data"])
        best = data.get("best")
        if not best:
            raise LearningError(f"topic '{slug}' has no kept answer to build a runbook from")
        steps = runbook_steps(best["answer"])
        questions = data.get("questions", [])
        fallback = [line.strip() for line in best["answer"].splitlines() if line.strip()][:5]
        candidate_id = f"candidate-{slug}"
        document = {
            "id": candidate_id,
            "title": f"{row['title']} (team practice, under review)",
            "summary": f"Drafted from the team's best-rated answer (interaction {best['interaction_id']}, quality "
                       f"{best['quality']:.2f}) on topic {slug}; review before it is used to answer.",
            "keywords": keywords(questions),
            "symptoms": questions[:5],
            "triage": steps["triage"] or fallback,
            "remediation": steps["remediation"] or fallback,
            "verify": steps["verify"] or ["Confirm with the reporter that the problem is gone."],
            "escalate": "Escalate to the owning team's on-call if these steps do not resolve it.",
            "status": "review",
            "source": {"topic": slug, "interaction_id": best["interaction_id"],
                       "incidents": [i["key"] for i in data.get("incidents", [])]},
        }
        text = "# Runbook candidate from `!learning promote`: NOT loaded until reviewed and moved into a runbook " \
               "directory.\n" + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        private_directory(self.candidates_dir)
        path = self.candidates_dir / f"{candidate_id}.yaml"
        write_private(path, [text])
        try:
            load_runbook(path)  # the draft must be a usable runbook once accepted
        except Exception as exc:
            raise LearningError(f"the drafted runbook does not validate: {exc}") from exc
        now = self.engine.clock.now()
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO runbook_candidates(id, topic, title, yaml, path, status, created_by, created_ts) "
                         "VALUES (?, ?, ?, ?, ?, 'review', ?, ?) ON CONFLICT(id) DO UPDATE SET yaml = excluded.yaml, "
                         "title = excluded.title, status = 'review', created_by = excluded.created_by, "
                         "created_ts = excluded.created_ts",
                         (candidate_id, slug, document["title"], text, str(path), user, now))
        return RunbookCandidate(candidate_id, slug, str(document["title"]), str(path), "review", user, now)

    def candidates(self) -> list[RunbookCandidate]:
        """Every runbook candidate, newest first."""
        return [RunbookCandidate(r["id"], r["topic"], r["title"], r["path"], r["status"], r["created_by"],
                                 r["created_ts"])
                for r in self.store.query("SELECT * FROM runbook_candidates ORDER BY created_ts DESC")]

    def default_directory(self, kind: str) -> Path:
        """Where the app's keys write: `learning.export_dir` / `learning.docs_dir`, else under the data dir."""
        configured = self.config.export_dir if kind == "export" else self.config.docs_dir
        if configured:
            return Path(configured).expanduser()
        return self.engine.config.data_dir / "learning" / kind

    # -- status -----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What the tab and `!learning status` show: consent, last mining counts, last export and docs."""
        report = self.last_report
        return {
            "enabled": self.engine.config.features.team_learning,
            "min_quality": self.config.min_quality,
            "local_rooms": self.config.local_rooms,
            "matrix_rooms": self.config.matrix_rooms,
            "rooms": dict(self.config.rooms),
            "opted_out": len(self.optouts.users()),
            "mined": report.counts() if report is not None else None,
            "last_export": self.last("export"),
            "last_docs": self.last("docs"),
            "topics": len(self.store.query("SELECT slug FROM learning_topics")),
            "candidates": len(self.store.query("SELECT id FROM runbook_candidates WHERE status = 'review'")),
        }


__all__ = ["DocsSummary", "ExportError", "LearningError", "RunbookCandidate", "TeamLearning"]
