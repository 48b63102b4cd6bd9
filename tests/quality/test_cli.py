"""`hololoom predict` and `hololoom quality report`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hololoom_core.cli.main import main as cli_main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli_main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_predict_json_has_the_forecast_and_answers_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--data-dir", str(tmp_path), "predict", "disk full on web-03", "--json")
    assert status == 0
    data = json.loads(out)
    assert set(data) >= {"predicted_quality", "difficulty", "retry_probability", "recommended_config", "features",
                         "model"}
    assert data["model"]["version"] == 1 and data["model"]["outcomes"] == 0
    status, out, _ = run(capsys, "--data-dir", str(tmp_path), "predict", "what is a good sourdough recipe?", "--json")
    ungrounded = json.loads(out)
    assert data["features"]["runbook_strength"] > ungrounded["features"]["runbook_strength"]
    assert data["predicted_quality"] > ungrounded["predicted_quality"]
    assert data["difficulty"] < ungrounded["difficulty"]
    status, out, _ = run(capsys, "--data-dir", str(tmp_path), "quality", "report", "--json")
    assert json.loads(out)["figures"]["outcomes"] == 0  # predicting stored nothing


def test_ask_json_carries_the_prediction_and_the_report_counts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "--data-dir", str(tmp_path), "ask", "how should we plan the offsite?", "--json")
    assert status == 0
    prediction = json.loads(out)["prediction"]
    assert 0.0 <= prediction["retry_probability"] <= 1.0 and prediction["features"]
    status, out, _ = run(capsys, "--data-dir", str(tmp_path), "quality", "report")
    assert status == 0
    assert "Predictive quality over 1 outcome(s)" in out and "Calibration" in out and "expensive" in out
    status, out, _ = run(capsys, "--data-dir", str(tmp_path), "quality", "report", "--json")
    report = json.loads(out)
    assert report["figures"]["bad_rate"] == 1.0 and report["recent"][0]["bad"] == 1


def test_empty_question_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--data-dir", str(tmp_path), "predict", "  ")
    assert status == 2 and err.strip().count("\n") == 0 and "question is empty" in err


def test_predict_text_says_why_a_recommendation_is_not_applied(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--data-dir", str(tmp_path), "predict", "why is checkout slow")
    assert status == 0
    assert "not applied until the model has learned from 50 outcomes (0 so far)" in out
    assert "features.predictive_quality is false" not in out  # the switch is on by default
