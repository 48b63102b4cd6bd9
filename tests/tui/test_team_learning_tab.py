"""The Team Learning tab, live on a real engine: mined examples and why, 👍 arriving, export and docs keys."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable, Static, TabbedContent

from hololoom_tui.tabs.team_learning import TeamLearningTab
from tests.tui.helpers import build_app, wait_for


def cells(table: DataTable[str]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


async def test_tab_mines_live_and_exports_and_writes_docs_with_its_keys(tmp_path: Path) -> None:
    app = build_app(tmp_path / "data")
    async with app.run_test(size=(130, 45)) as pilot:
        room = app.room("#ops")
        result = await room.post("alice", "checkout-api is throwing 500 errors, mail dana.w@corp.example.com",
                                 to_bot=True)
        interaction = next(r.answer for r in result.replies if r.answer).interaction_id
        assert interaction is not None
        app.query_one(TabbedContent).active = "team-learning"
        tab = app.query_one(TeamLearningTab)
        table = tab.query_one("#tl-examples", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        assert "no 👍 yet" in cells(table)[0][6]

        # a 👍 arrives through the engine: the tab re-mines by itself
        app.engine.record_feedback(interaction, "bob", 1, "app")
        await wait_for(pilot, lambda: table.row_count == 1 and "kept" in cells(table)[0][5])
        row = cells(table)[0]
        assert "redacted" in row[5] and "email" in row[6]
        assert "dana.w@" not in row[1]
        assert "1 kept" in str(tab.query_one("#tl-figures", Static).render())

        # e: export in a worker, with the last export shown afterwards
        tab.focus()
        await pilot.press("e")
        export_dir = tmp_path / "data" / "learning" / "export"
        await wait_for(pilot, lambda: not tab.busy and (export_dir / "README.md").exists())
        await wait_for(pilot, lambda: "Last export" in str(tab.query_one("#tl-export", Static).render())
                       and "1 example" in str(tab.query_one("#tl-export", Static).render()))
        record = json.loads((export_dir / "train.jsonl").read_text().splitlines()[0])
        assert record["metadata"]["interaction_id"] == interaction

        # d: best-practice pages, then the topics appear on the tab
        await pilot.press("d")
        docs_dir = tmp_path / "data" / "learning" / "docs"
        await wait_for(pilot, lambda: not tab.busy and (docs_dir / "index.md").exists())
        await wait_for(pilot, lambda: "Topics with best practices" in str(tab.query_one("#tl-topics", Static).render()))
        assert "dana.w@" not in "".join(path.read_text() for path in docs_dir.iterdir())
