"""Issue 10, config and YAML: bad hosts, duplicate keys, internal fields, files as directories, unusable data
dirs, YAML alias bombs, the compiled-step budget and `workflow validate`'s policy checks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hololoom_core.cli.main import main as cli_main
from hololoom_core.config import ConfigError, load_config
from hololoom_core.ops.workflows.schema import MAX_PROGRAM_STEPS, WorkflowSchemaError, parse_workflow
from hololoom_core.yamldoc import MAX_ALIAS_EXPANSION, YamlSyntaxError, parse_yaml


def _load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, data_dir=tmp_path / "data", environ={})
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("text", "line", "key"), [
    ("llm:\n  host: not a url\n", 2, "llm.host"),
    ("llm:\n  host: \"http://\"\n", 2, "llm.host"),
    ("matrix:\n  homeserver: \"http://\"\n", 2, "matrix.homeserver"),
    ("matrix:\n  homeserver: \"https:// spaces.example\"\n", 2, "matrix.homeserver"),
])
def test_hosts_must_be_urls_with_a_host(tmp_path: Path, text: str, line: int, key: str) -> None:
    message = _load(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'config.yaml'}:{line}: '{key}' must be an http:// or https:// URL")


def test_good_hosts_still_load(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("llm:\n  host: localhost:11434\nmatrix:\n  homeserver: https://matrix.example.org/\n")
    config = load_config(path, data_dir=tmp_path / "data", environ={})
    assert (config.llm.host, config.matrix.homeserver) == ("http://localhost:11434", "https://matrix.example.org")


def test_duplicate_keys_are_an_error_naming_file_and_line(tmp_path: Path) -> None:
    message = _load(tmp_path, "llm:\n  model: a\n  temperature: 0.1\n  model: b\n")
    assert message.startswith(f"{tmp_path / 'config.yaml'}:4: YAML syntax error (duplicate key 'model' "
                              "(first given on line 2)")


def test_duplicate_keys_in_a_workflow_name_the_line() -> None:
    with pytest.raises(WorkflowSchemaError) as caught:
        parse_workflow("name: x\nsteps:\n  - say: hi\nname: y\n", "flow.yaml")
    assert str(caught.value).startswith("flow.yaml:4: YAML syntax error (duplicate key 'name'")


def test_merge_keys_are_not_duplicates() -> None:
    data, _ = parse_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert data["other"] == {"x": 1, "y": 2}


def test_internal_source_field_cannot_be_set_from_a_file(tmp_path: Path) -> None:
    message = _load(tmp_path, "source: /etc/hololoom.yaml\n")
    assert message.startswith(f"{tmp_path / 'config.yaml'}:1: unknown key 'source'")
    assert "source" not in message.split("use one of:")[1]


def test_directories_must_be_directories(tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    message = _load(tmp_path, f"workflows:\n  directory: {afile}\n")
    assert message.startswith(f"{tmp_path / 'config.yaml'}:2: 'workflows.directory' {afile} is a file, not a "
                              "directory")
    message = _load(tmp_path, f"ops:\n  aliases_dir: {afile}\n")
    assert "'ops.aliases_dir'" in message


def test_an_unusable_data_dir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    assert cli_main(["--data-dir", str(afile / "data"), "say", "hello"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data dir" in err and str(afile) in err
    assert cli_main(["--data-dir", str(afile), "say", "hello"]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    from hololoom_tui.main import main as tui_main

    assert tui_main(["--data-dir", str(afile / "data")]) == 2
    assert capsys.readouterr().err.startswith("hololoom-tui: data dir ")


def _anchor_bomb(levels: int = 8, width: int = 9) -> str:
    lines = ["name: bomb", "x0: &l0 [{say: hi}]"]
    for level in range(1, levels):
        lines.append(f"x{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    lines.append(f"steps: [{{if: 'true', then: *l{levels - 1}}}]")
    return "\n".join(lines) + "\n"


def test_an_anchor_bomb_is_refused_quickly_with_its_line(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    bomb = _anchor_bomb()
    assert len(bomb) < 600  # 9^7 = 4.8 M steps once expanded
    started = time.perf_counter()
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml(bomb)
    assert time.perf_counter() - started < 1.0
    assert caught.value.line is not None and f"{MAX_ALIAS_EXPANSION:,} extra nodes" in caught.value.problem
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    started = time.perf_counter()
    assert cli_main(["--data-dir", str(tmp_path), "workflow", "validate", str(path)]) == 1
    assert time.perf_counter() - started < 5.0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{path}:") and "extra nodes" in out


def test_a_workflow_over_the_step_budget_is_refused_with_its_line() -> None:
    steps = "".join(f"  - say: step {index}\n" for index in range(MAX_PROGRAM_STEPS + 5))
    with pytest.raises(WorkflowSchemaError) as caught:
        parse_workflow(f"name: long\nsteps:\n{steps}", "long.yaml")
    assert str(caught.value).startswith(f"long.yaml:{MAX_PROGRAM_STEPS + 3}: the workflow compiles to more than")


def _validate(tmp_path: Path, flow: str, config: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    path = tmp_path / "flow.yaml"
    path.write_text(flow)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config)
    code = cli_main(["--config", str(config_path), "--data-dir", str(tmp_path), "workflow", "validate", str(path)])
    return code, capsys.readouterr().out.splitlines()


def test_validate_refuses_a_shell_step_outside_the_allow_list(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    flow = "name: wipe\nsteps:\n  - say: hi\n  - shell: rm -rf /srv/data\n"
    config = "workflows:\n  shell_allow: ['kubectl rollout undo deployment/*']\n"
    code, lines = _validate(tmp_path, flow, config, capsys)
    assert code == 1
    assert lines == [f"{tmp_path / 'flow.yaml'}:4: step 2 (shell): `rm -rf /srv/data` is not allowed by "
                     "workflows.shell_allow"]
    templated = "name: undo\nsteps:\n  - shell: 'kubectl rollout undo deployment/{{ service }}'\n"
    code, lines = _validate(tmp_path, templated, config, capsys)
    assert code == 0 and lines[0].endswith(": ok (undo, 1 compiled steps, no triggers)")
    code, lines = _validate(tmp_path, templated, "{}\n", capsys)
    assert code == 1 and "shell steps are disabled" in lines[0]


def test_validate_refuses_http_hosts_outside_the_allow_list_and_long_programs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = "name: hook\nsteps:\n  - http: https://evil.example.com/x\n"
    code, lines = _validate(tmp_path, flow, "workflows:\n  http_allow_hosts: [hooks.example.org]\n", capsys)
    assert code == 1
    assert lines == [f"{tmp_path / 'flow.yaml'}:3: step 1 (http): host evil.example.com is not in "
                     "workflows.http_allow_hosts (allowed: hooks.example.org)"]
    flow = "name: many\nsteps:\n" + "".join(f"  - say: s{index}\n" for index in range(12))
    code, lines = _validate(tmp_path, flow, "workflows:\n  max_steps_per_run: 10\n", capsys)
    assert code == 1 and lines == [f"{tmp_path / 'flow.yaml'}:13: the workflow has 12 compiled steps, more than "
                                   "workflows.max_steps_per_run (10)"]
