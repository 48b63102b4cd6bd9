"""The headless CLI `hololoom`: ask, say, doctor, runbook, version, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hololoom_core import __version__


def run(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hololoom_core.cli", *args]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"hololoom {__version__}"


def test_ask_json_has_sections_and_cites_a_runbook(tmp_path: Path) -> None:
    result = run("ask", "The production API is returning 500 errors", "--json", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert all(data["sections"][name].strip() for name in ("PLAN", "ANSWER", "VERIFY", "TL;DR"))
    assert data["agent"] == "incident" and data["provider"] == "offline"
    assert data["routing"]["agent"] == "incident" and set(data["routing"]["scores"]) == {
        "incident", "security", "code_review", "deployment", "general"}
    assert 0 < data["quality"] <= 1 and data["latency_ms"] > 0
    assert any(source["kind"] == "runbook" and source["ref"] == "http-5xx" for source in data["sources"])
    assert set(data["judge"]["criteria"]) == {"structure", "grounded", "actionable", "concise", "safe"}
    steps = [step["step"] for step in data["loop_steps"]]
    assert steps.index("generate") < steps.index("judge")


def test_say_persists_between_invocations_and_prints_replies(tmp_path: Path) -> None:
    first = run("say", "postgres replica db-02 shows replication lag of 2 minutes", "--as", "marco", data_dir=tmp_path)
    assert first.returncode == 0 and "did not reply" in first.stdout
    second = run("say", "@hololoom what do we know about replication lag on db-02?", "--json", data_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    answer = data["replies"][0]["answer"]
    assert any(source["kind"] == "message" and source["author"] == "marco" for source in answer["sources"])
    third = run("say", "!ping", data_dir=tmp_path)
    assert "pong — 4 messages stored, 1 answers given." in third.stdout


def test_doctor_reports_each_part_on_one_line(tmp_path: Path) -> None:
    result = run("doctor", data_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    names = [line.split()[1] for line in lines]
    assert {"config", "data", "store", "runbooks", "llm", "app"} <= set(names)
    assert all(line.split()[0] in ("ok", "warn", "fail") for line in lines)


def test_doctor_fails_on_an_unusable_store(tmp_path: Path) -> None:
    (tmp_path / "hololoom.sqlite3").write_bytes(b"garbage" * 200)
    result = run("doctor", data_dir=tmp_path)
    assert result.returncode == 1
    assert any(line.startswith("fail") and "store" in line for line in result.stdout.splitlines())


def test_bad_usage_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run("ask", "   ", data_dir=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_runbook_lists_and_shows(tmp_path: Path) -> None:
    listing = run("runbook", data_dir=tmp_path)
    assert "`disk-full`" in listing.stdout
    shown = run("runbook", "disk-full", data_dir=tmp_path)
    assert "**Triage**" in shown.stdout
    missing = run("runbook", "disk-ful", data_dir=tmp_path)
    assert missing.returncode == 1 and "Closest: `disk-full`" in missing.stderr
