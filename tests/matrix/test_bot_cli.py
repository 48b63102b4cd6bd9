"""`hololoom bot` and `hololoom doctor` against the real Synapse: one-line errors, reachability and login."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hololoom_core.config import Config
from hololoom_core.doctor import run_checks
from hololoom_core.testing.synapse import MatrixUser, SynapseServer, free_port

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m hololoom_core.cli ARGS`."""
    return subprocess.run([sys.executable, "-m", "hololoom_core.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def write_config(path: Path, data: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


async def test_bot_needs_matrix_config(tmp_path: Path) -> None:
    """Without Matrix settings `hololoom bot` says what to set, in one line, exit status 2."""
    result = run_cli("bot", "--data-dir", str(tmp_path), env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "matrix.homeserver" in lines[0] and "Traceback" not in result.stderr


async def test_bot_with_rejected_token_fails_in_one_line(synapse: SynapseServer, matrix_user: Callable[..., MatrixUser],
                                                         tmp_path: Path) -> None:
    """A wrong access token ends the bot with one clear line and exit status 1."""
    bot = matrix_user("bot")
    config = write_config(tmp_path / "bot.yaml", {
        "matrix": {"homeserver": synapse.base_url, "user_id": bot.user_id, "access_token": "syt_wrong"},
        "hololoom": {"data_dir": str(tmp_path / "data")},
    })
    result = run_cli("bot", "--config", str(config), "--log-level", "ERROR")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("hololoom: bot:") and "rejected" in last and "Traceback" not in result.stderr


async def test_unreachable_homeserver_is_retried_then_reported(tmp_path: Path) -> None:
    """With the homeserver down, login is retried with backoff; after the allowed tries, one line, exit 1."""
    config = write_config(tmp_path / "bot.yaml", {
        "matrix": {"homeserver": f"http://127.0.0.1:{free_port()}", "user_id": "@bot:localhost",
                   "access_token": "syt_x", "backoff_initial_s": 0.1, "backoff_max_s": 0.2},
        "hololoom": {"data_dir": str(tmp_path / "data")},
    })
    result = run_cli("bot", "--config", str(config), "--login-attempts", "3")
    assert result.returncode == 1
    assert result.stderr.count("retrying in") == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("hololoom: bot:") and "cannot reach the homeserver" in last
    assert "Unclosed" not in result.stderr and "Traceback" not in result.stderr


def matrix_config(synapse: SynapseServer, bot: MatrixUser, tmp_path: Path, **matrix: object) -> Config:
    section: dict[str, object] = {"homeserver": synapse.base_url, "user_id": bot.user_id, "access_token": bot.access_token}
    section.update(matrix)
    return Config.model_validate({"matrix": section, "hololoom": {"data_dir": str(tmp_path)}})


async def test_doctor_checks_homeserver_and_login(synapse: SynapseServer, matrix_user: Callable[..., MatrixUser],
                                                  tmp_path: Path) -> None:
    """Doctor: reachable and logged in; a bad token and an unreachable server each fail with a one-line reason."""
    bot = matrix_user("bot")
    results = {r.name: r for r in await run_checks(matrix_config(synapse, bot, tmp_path))}
    assert results["matrix"].status == "ok" and synapse.base_url in results["matrix"].detail
    assert results["matrix login"].status == "ok" and bot.user_id in results["matrix login"].detail
    assert results["ocr"].status in ("ok", "warn")

    bad = {r.name: r for r in await run_checks(matrix_config(synapse, bot, tmp_path, access_token="syt_wrong"))}
    assert bad["matrix login"].status == "fail" and "rejected" in bad["matrix login"].detail

    password = {r.name: r for r in await run_checks(
        matrix_config(synapse, bot, tmp_path, access_token=None, password=bot.password))}
    assert password["matrix login"].status == "ok"

    unreachable = Config.model_validate({"matrix": {"homeserver": f"http://127.0.0.1:{free_port()}",
                                                    "user_id": bot.user_id, "access_token": "x"},
                                         "hololoom": {"data_dir": str(tmp_path)}})
    down = {r.name: r for r in await run_checks(unreachable)}
    assert down["matrix"].status == "fail" and "not reachable" in down["matrix"].detail
    assert all("\n" not in r.detail for r in down.values())


async def test_password_login_keeps_one_device_and_display_name(
    synapse: SynapseServer, matrix_user: Callable[..., MatrixUser], tmp_path: Path
) -> None:
    """A password login is saved (0600) and reused: two runs, one device; the display name comes from config."""
    from tests.matrix.botkit import bot_config, running_bot

    bot = matrix_user("bot")
    config = bot_config(synapse, bot, tmp_path, password=True, display_name="Loom Bot")
    async with running_bot(config) as first:
        assert first.client is not None
        first_device = first.client.device_id
        name = await first.client.get_displayname(bot.user_id)
        assert name.displayname == "Loom Bot"
    session = tmp_path / "matrix" / "session.json"
    assert session.stat().st_mode & 0o777 == 0o600
    async with running_bot(config) as second:
        assert second.client is not None
        assert second.client.device_id == first_device != bot.device_id
