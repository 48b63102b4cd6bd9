"""The Team Learning tab: mined examples and why each was kept or not, topics, the last export, export/docs keys.

Mining, export and docs run in a worker thread (`@work(thread=True)`); progress and results come back as
messages, so the UI never waits on them. The tab re-mines when answers or ratings arrive while it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, ProgressBar, Static

from hololoom_tui.bridge import EngineMessage
from hololoom_tui.engine_view import EngineView
from hololoom_tui.widgets.fitted_table import FittedTable

if TYPE_CHECKING:
    from hololoom_core.learning.mining import MiningReport

MAX_ROWS = 200
STATUS_STYLE = {"kept": "green", "duplicate": "yellow", "excluded": "dim", "rejected": "red"}


@dataclass(slots=True)
class LearningSnapshot:
    """What the tab shows, computed off the UI thread from one mining run."""

    rows: list[tuple[str, ...]]
    counts: dict[str, Any]
    status: dict[str, Any]
    topics: list[dict[str, Any]] = field(default_factory=list)


def snapshot_of(report: MiningReport, status: dict[str, Any], topics: list[dict[str, Any]]) -> LearningSnapshot:
    """Table rows (newest first) and figures from a mining report."""
    rows: list[tuple[str, ...]] = []
    for example in reversed(report.examples[-MAX_ROWS:]):
        why = example.detail or example.reason
        if example.status == "kept":
            why = "redacted: " + ", ".join(example.redactions) if example.redactions else "kept"
        elif example.status == "duplicate":
            why = f"duplicate of {example.duplicate_of}"
        label = example.status + ("+redacted" if example.status == "kept" and example.redactions else "")
        question = example.clean_question or example.question
        rows.append((
            str(example.interaction_id or example.incident or ""),
            " ".join(question.split())[:48],
            example.agent,
            f"{example.quality:.2f}" if example.source == "interaction" else "—",
            f"👍{example.up} 👎{example.down}" + (" ↻" if example.reasked else ""),
            f"[{STATUS_STYLE.get(example.status, 'white')}]{label}[/]",
            why if example.status == "kept" or example.status == "duplicate" else f"{example.reason}"
            + (f" ({example.detail})" if example.detail else ""),
        ))
    return LearningSnapshot(rows, report.counts(), status, topics)


class TeamLearningTab(VerticalScroll):
    """Mined examples with their status, topics with best practices, the last export; `e` exports, `d` writes docs."""

    BINDINGS = [
        Binding("e", "export", "Export dataset", id="learning.export"),
        Binding("d", "docs", "Write docs", id="learning.docs"),
        Binding("r", "mine", "Re-mine", id="learning.mine"),
    ]

    class Mined(Message):
        """A mining run finished (posted from the worker thread)."""

        def __init__(self, snapshot: LearningSnapshot | None) -> None:
            super().__init__()
            self.snapshot = snapshot

    class Progress(Message):
        """Progress of a running export or docs job."""

        def __init__(self, stage: str, done: int, total: int) -> None:
            super().__init__()
            self.stage, self.done, self.total = stage, done, total

    class JobDone(Message):
        """An export or docs job finished (`error` set when it failed)."""

        def __init__(self, kind: str, text: str, error: bool = False) -> None:
            super().__init__()
            self.kind, self.text, self.error = kind, text, error

    def __init__(self, view: EngineView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.stale = True
        self.busy = False
        self.mining = False  # one mining run at a time; events arriving meanwhile ask for one more
        self.mine_again = False

    def compose(self) -> ComposeResult:
        """Title, figures, the examples table, topics, last export, progress."""
        yield Static("[b]Team Learning — rated answers into training data and best practices[/b]",
                     classes="tab-title")
        yield Static("Starting the engine…", id="tl-figures")
        table: FittedTable = FittedTable(id="tl-examples", zebra_stripes=True, cursor_type="row")
        table.add_columns("id", "question", "agent", "quality", "reactions", "status", "why")
        yield table
        yield Static("", id="tl-topics")
        yield Static("", id="tl-export")
        with Horizontal(id="tl-job"):
            yield ProgressBar(id="tl-progress", show_eta=False)
            yield Static("", id="tl-activity")
        yield Static("[dim]e export dataset · d write best-practice docs · r re-mine. Consent: the learning: "
                     "config section; people opt out with !learning optout.[/dim]", classes="tab-note")

    def on_mount(self) -> None:
        """Hide the idle progress row and size the sections."""
        self.query_one("#tl-job").display = False
        self.styles.height = "1fr"
        self.query_one("#tl-examples", DataTable).styles.max_height = 14
        for section in ("#tl-figures", "#tl-topics", "#tl-export"):
            self.query_one(section).styles.margin = (1, 0, 0, 1)

    def on_show(self) -> None:
        """Catch up when shown."""
        if self.stale:
            self.action_mine()

    @on(EngineMessage)
    def _engine_changed(self, message: EngineMessage) -> None:
        self.stale = True
        if self.is_mounted and self.display and self.parent is not None and self.parent.display:
            self.action_mine()

    # -- work off the UI thread -------------------------------------------------------------------

    def action_mine(self) -> None:
        """Mine again now (in a worker thread)."""
        if self.view.team_learning() is None:
            return
        self.stale = False
        if self.mining:
            self.mine_again = True
            return
        self.mining = True
        self.mine()

    @work(thread=True, group="team-learning-mine", exclusive=True, exit_on_error=False)
    def mine(self) -> None:
        """Mine the store and post the snapshot."""
        learning = self.view.team_learning()
        if learning is None:
            return
        try:
            report = learning.mine()
            snapshot = snapshot_of(report, learning.status(), learning.topics())
        except Exception as exc:  # a failed run must not leave the tab waiting forever
            self.post_message(self.JobDone("mining", f"mining failed: {exc}", error=True))
            self.post_message(self.Mined(None))
            return
        self.post_message(self.Mined(snapshot))

    def action_export(self) -> None:
        """Export the dataset to the default export directory."""
        self._start("export")

    def action_docs(self) -> None:
        """Write the best-practice pages to the default docs directory."""
        self._start("docs")

    def _start(self, kind: str) -> None:
        learning = self.view.team_learning()
        if learning is None:
            self.notify("The engine is still starting.", severity="warning")
            return
        if self.busy:
            self.notify("An export or docs job is already running.", severity="warning")
            return
        self.busy = True
        self.query_one("#tl-job").display = True
        self.query_one("#tl-progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#tl-activity", Static).update(f"{kind}: mining…")
        self.run_job(kind, learning.default_directory(kind))

    @work(thread=True, group="team-learning-job", exclusive=True, exit_on_error=False)
    def run_job(self, kind: str, directory: Path) -> None:
        """Export or write docs in a worker thread, posting progress and the result."""
        from hololoom_core.learning.files import ExportError
        from hololoom_core.learning.service import LearningError

        learning = self.view.team_learning()
        if learning is None:
            return

        def progress(stage: str, done: int, total: int) -> None:
            self.post_message(self.Progress(stage, done, total))

        try:
            if kind == "export":
                summary = learning.export(directory, progress=progress)
                text = (f"Exported {summary.files.get('train.jsonl', 0)} example(s) and "
                        f"{summary.files.get('preference.jsonl', 0)} preference pair(s) to {directory}")
            else:
                docs = learning.generate_docs(directory, progress=progress)
                text = f"Wrote {len(docs.pages)} topic page(s) and index.md to {directory}"
        except (ExportError, LearningError, OSError) as exc:
            self.post_message(self.JobDone(kind, f"{kind} failed: {exc}", error=True))
            return
        report = learning.last_report
        if report is not None:
            self.post_message(self.Mined(snapshot_of(report, learning.status(), learning.topics())))
        self.post_message(self.JobDone(kind, text))

    # -- results ---------------------------------------------------------------------------------

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.query_one("#tl-progress", ProgressBar).update(total=max(1, message.total), progress=message.done)
        self.query_one("#tl-activity", Static).update(f"{message.stage} {message.done:,}/{message.total:,}")

    @on(JobDone)
    def _job_done(self, message: JobDone) -> None:
        if message.kind == "mining":
            self.notify(message.text, title="Team learning", severity="error", timeout=6)
            return
        self.busy = False
        self.query_one("#tl-job").display = False
        self.notify(message.text, title="Team learning", severity="error" if message.error else "information",
                    timeout=6)

    @on(Mined)
    def _mined(self, message: Mined) -> None:
        self.mining = False
        if message.snapshot is not None:
            self.render_snapshot(message.snapshot)
        if self.mine_again:
            self.mine_again = False
            self.action_mine()

    def render_snapshot(self, snapshot: LearningSnapshot) -> None:
        """Show a mining snapshot: figures, the examples, topics and the last export."""
        counts, status = snapshot.counts, snapshot.status
        reasons = ", ".join(f"{reason} {n}" for reason, n in counts["excluded_by_reason"].items()) or "none"
        self.query_one("#tl-figures", Static).update(
            f"Mined {counts['records']} record(s) at quality ≥ {status['min_quality']:.2f}: "
            f"[green]{counts['kept']} kept[/] ({counts['redacted']} redacted), [yellow]{counts['duplicate']} "
            f"near-duplicate(s)[/], {counts['excluded']} excluded — {reasons}. Preference pairs "
            f"{counts['preference_pairs']}; opted out {status['opted_out']}; consent: local rooms "
            f"{'on' if status['local_rooms'] else 'off'}, Matrix rooms {'on' if status['matrix_rooms'] else 'off'}."
        )
        table = self.query_one("#tl-examples", DataTable)
        table.clear()
        for row in snapshot.rows:
            table.add_row(*row)
        if snapshot.topics:
            lines = ["[b]Topics with best practices[/b]"]
            for topic in snapshot.topics[:6]:
                best = f"best answer {topic['best_quality']:.2f}" if topic["best_quality"] is not None else "no answer"
                question = topic["questions"][0] if topic["questions"] else ""
                lines.append(f"• {topic['title']} (`{topic['slug']}`): {topic['examples']} question(s), {best} — "
                             f"“{' '.join(question.split())[:60]}”")
            lines.append(f"Runbook candidates under review: {status['candidates']}")
        else:
            lines = ["[b]Topics[/b]: no pages yet — press d to write them"]
        self.query_one("#tl-topics", Static).update("\n".join(lines))
        export = status.get("last_export")
        if export:
            files = export["files"]
            self.query_one("#tl-export", Static).update(
                f"[b]Last export[/b]: {files.get('train.jsonl', 0)} example(s), {files.get('preference.jsonl', 0)} "
                f"preference pair(s), {export['counts']['duplicate']} collapsed, {export['counts']['excluded']} "
                f"excluded → {export['directory']} (card: README.md; redactions "
                f"{sum(export['redactions'].values())})")
        else:
            self.query_one("#tl-export", Static).update("[b]Last export[/b]: none yet — press e")
