"""The Predictive Quality tab, live: forecasts, outcomes, figures, tiers; and predicted → judged in the chat."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widgets import DataTable, Static, TabbedContent
from textual_plotext import PlotextPlot

from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_core.quality.service import QualityService
from hololoom_tui.app import make_app
from hololoom_tui.tabs.predictive_quality import PredictiveQualityTab
from tests.tui.helpers import wait_for


async def test_tab_shows_forecasts_outcomes_and_figures_live(tmp_path: Path) -> None:
    config = load_config(None, data_dir=tmp_path, environ={})
    engine = Engine(config)
    app = make_app(config, engine=engine)
    async with app.run_test(size=(150, 60)) as pilot:
        tab = app.query_one(PredictiveQualityTab)
        app.query_one(TabbedContent).active = "predictive-quality"
        await pilot.pause()
        recent = tab.query_one("#pq-recent", DataTable)
        assert recent.row_count == 0
        room = app.room("#ops")
        for text in ("@hololoom disk full on db-01, no space left on device",
                     "@hololoom how should we plan the team offsite?",
                     "@hololoom connection pool exhausted on orders-api"):
            await room.post("bob", text)
        await wait_for(pilot, lambda: recent.row_count == 3)
        summary = str(tab.query_one("#pq-summary", Static).render())
        service = engine.capability(QualityService)
        outcomes = service.figures().outcomes
        assert outcomes >= 1  # the offsite question was judged below the threshold: bad at once
        assert f"over {outcomes} outcome(s)" in summary and "ROC-AUC" in summary and "ECE" in summary
        outcomes_column = [recent.get_row_at(i)[5] for i in range(3)]
        assert "bad" in outcomes_column and "waiting" in outcomes_column
        tiers = tab.query_one("#pq-tiers", DataTable)
        assert [tiers.get_row_at(i)[0] for i in range(3)] == ["cheap", "standard", "expensive"]
        assert sum(int(tiers.get_row_at(i)[2]) for i in range(3)) == 3
        assert len(tab.query(PlotextPlot)) == 3
        app.query_one(TabbedContent).active = "chat"
        await pilot.pause()
        metas = [str(widget.render()) for widget in app.query(".entry-meta").results(Static)]
        assert len(metas) == 3 and all(re.search(r"predicted [01]\.\d\d → judged [01]\.\d\d", meta) for meta in metas)
