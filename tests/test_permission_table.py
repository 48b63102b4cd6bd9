"""The permission table in docs/operations.md is the one the real command registry produces."""

from __future__ import annotations

from pathlib import Path

from hololoom_core.engine.permission_table import END, START, default_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def test_the_documented_permission_table_matches_the_registry() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = text[text.index(START): text.index(END) + len(END)]
    generated = default_table()
    assert documented == generated, (
        "docs/operations.md's permission table is out of date; regenerate it with "
        "`python -m hololoom_core.engine.permission_table`")
    for row in ("| `!kickoff` | — | checked as `workflow run`, `incident declare`, `incident role` |",
                "| `!incident declare` | open, new, start | permission `incident` |"):
        assert row in generated
