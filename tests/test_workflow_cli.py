"""`hololoom workflow validate|list|run|runs` and the workflow config section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hololoom_core.cli.main import main as cli_main
from hololoom_core.config import ConfigError, load_config
from hololoom_core.ops.workflows.library import SHIPPED_DIRECTORY


def test_validate_prints_one_line_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = SHIPPED_DIRECTORY / "deploy-rollback.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - say: hi\n  - ask: ok?\n    timeout: soon\n", encoding="utf-8")
    code = cli_main(["--data-dir", str(tmp_path), "workflow", "validate", str(good), str(bad)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines == [
        f"{good}: ok (deploy-rollback, 11 compiled steps, command rollback)",
        f"{good}:25: warning: step 3 (shell) runs `kubectl rollout undo deployment/{{{{ service }}}}`, but shell "
        "steps are disabled (workflows.shell_allow is empty)",
        f"{bad}:5: step 2 (ask) timeout: 'soon' is not a duration; write it like 30s, 15m, 2h, 1d or 1h30m",
    ]
    assert cli_main(["--data-dir", str(tmp_path), "workflow", "validate", str(good)]) == 0


def test_run_and_runs_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--data-dir", str(tmp_path)]
    assert cli_main([*common, "workflow", "run", "deploy-rollback", "checkout-api", "reason=5xx"]) == 0
    out = capsys.readouterr().out
    assert "▶ WF-1 `deploy-rollback` started by operator with service=checkout-api" in out
    assert "`!workflow approve 1`" in out
    assert cli_main([*common, "say", "!workflow approve 1", "--as", "priya"]) == 0
    assert "✅ WF-1 approved by priya." in capsys.readouterr().out
    assert cli_main([*common, "workflow", "runs", "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert (run["label"], run["status"]) == ("WF-1", "waiting_timer")
    assert cli_main([*common, "workflow", "runs", "1"]) == 0
    assert "**WF-1 · `deploy-rollback`** — ⏳ waiting" in capsys.readouterr().out
    assert cli_main([*common, "workflow", "run", "deploy-rollback"]) == 2
    assert "needs service" in capsys.readouterr().err
    assert cli_main([*common, "workflow", "runs", "WF-9"]) == 2
    assert "No run WF-9" in capsys.readouterr().err


def test_list_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "x.yaml").write_text("name: x\nsteps:\n  - say: [1, 2]\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(f"workflows:\n  directory: {flows}\n", encoding="utf-8")
    assert cli_main(["--config", str(config), "--data-dir", str(tmp_path), "workflow", "list", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["problems"] == [f"{flows / 'x.yaml'}:3: step 1 (say) must be text"]
    assert {"deploy-rollback", "standup-digest"} <= {item["name"] for item in data["workflows"]}


@pytest.mark.parametrize(
    ("yaml_text", "fragment"),
    [
        ("workflows:\n  timezone: Mars/Olympus\n", "'workflows.timezone' 'Mars/Olympus' is not a known time zone"),
        ("workflows:\n  default_approval_timeout: forever\n", "'forever' is not a duration"),
        ("workflows:\n  http_allow_hosts: ['https://x.example']\n", "is not a host name"),
        ("review:\n  bandit_skip: [X1]\n", "'X1' is not a bandit test id"),
        ("review:\n  ruff_select: ['f401']\n", "'f401' is not a ruff rule selector"),
    ],
)
def test_config_errors_are_one_line(tmp_path: Path, yaml_text: str, fragment: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert f"{path}:" in str(caught.value) and fragment in str(caught.value)
