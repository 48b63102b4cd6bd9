"""Configuration: defaults, environment overrides and one-line errors for bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hololoom_core.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_offline_defaults(tmp_path: Path) -> None:
    config = load_config(None, environ={})
    assert config.mode == "offline"
    assert config.llm.provider == "offline"
    assert config.hololoom.config_mode == "fast"
    assert config.bot.command_prefix == "!"
    assert config.source is None


def test_example_file_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config.example.yaml", environ={})
    assert config.mode == "offline"


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "matrix:\n  homeserver: https://a.example\n  user_id: '@bot:a.example'\n")
    config = load_config(
        path,
        environ={
            "MATRIX_HOMESERVER": "https://b.example",
            "MATRIX_ACCESS_TOKEN": "syt_secret",
            "HOLOLOOM_DATA_DIR": str(tmp_path / "d"),
        },
    )
    assert config.matrix.homeserver == "https://b.example"
    assert config.matrix.access_token is not None
    assert config.matrix.access_token.get_secret_value() == "syt_secret"
    assert config.mode == "matrix"
    assert config.data_dir == tmp_path / "d"


def test_hololoom_config_env_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  model: qwen2.5\n")
    assert load_config(None, environ={"HOLOLOOM_CONFIG": str(path)}).llm.model == "qwen2.5"


def test_data_dir_argument_wins(tmp_path: Path) -> None:
    path = write(tmp_path, f"hololoom:\n  data_dir: {tmp_path / 'a'}\n")
    assert load_config(path, data_dir=tmp_path / "b", environ={}).data_dir == tmp_path / "b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("llm:\n  provider: gpt\n", ":2: 'llm.provider'"),
        ("llm:\n  timeout_s: soon\n", ":2: 'llm.timeout_s'"),
        ("matrix:\n  homeserver: example.org\n", "must be an http:// or https:// URL with a host"),
        ("hololoom:\n  colour: red\n", "unknown key 'hololoom.colour'"),
        ("llm:\n  provider: [offline\n", "YAML syntax error"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("matrix:\n  user_id: bot\n", "must look like @bot:example.org"),
    ],
)
def test_bad_file_gives_one_line_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert expected in message


def test_unknown_key_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "llm:\n  modle: x\n")
    with pytest.raises(ConfigError, match="use one of: .*model"):
        load_config(path, environ={})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", environ={})


@pytest.mark.parametrize("module", ["hololoom_core.cli", "hololoom_tui"])
def test_cli_and_app_exit_2_with_one_line(tmp_path: Path, module: str) -> None:
    path = write(tmp_path, "llm:\n  provider: gpt\n")
    args = [sys.executable, "-m", module, "--config", str(path)]
    if module == "hololoom_core.cli":
        args += ["doctor"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "llm.provider" in lines[0] and str(path) in lines[0]
