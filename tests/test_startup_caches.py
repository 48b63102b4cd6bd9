"""Start-up caches: YAML parsed once with libyaml, runbooks and spec overrides shared until their file changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from hololoom_core.answers.spec import load_spec
from hololoom_core.llm.runbooks import RunbookLibrary
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml, yaml_line

SHIPPED = Path(__file__).resolve().parent.parent / "hololoom_core" / "llm" / "runbooks"


def test_parse_yaml_gives_data_and_lines_from_one_parse() -> None:
    data, document = parse_yaml("name: disk\nsteps:\n  - df -h\n  - du -sh /var\n")
    assert data == {"name": "disk", "steps": ["df -h", "du -sh /var"]}
    assert yaml_line(document, ("steps", 1)) == 4
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml("name: disk\n  bad: : indent\n")
    assert caught.value.line == 2


def test_libyaml_is_used_when_available() -> None:
    from hololoom_core import yamldoc

    assert yamldoc._Loader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_runbook_library_is_shared_until_a_file_changes(tmp_path: Path) -> None:
    assert RunbookLibrary.from_directory() is RunbookLibrary.from_directory()
    for name in sorted(os.listdir(SHIPPED))[:3]:
        shutil.copy(SHIPPED / name, tmp_path / name)
    first = RunbookLibrary.from_directory(tmp_path)
    assert RunbookLibrary.from_directory(tmp_path) is first
    changed = tmp_path / sorted(os.listdir(tmp_path))[0]
    changed.write_text(changed.read_text().replace("title:", "title: Changed", 1))
    second = RunbookLibrary.from_directory(tmp_path)
    assert second is not first
    assert any(runbook.title.startswith("Changed") for runbook in second.runbooks.values())


def test_spec_override_is_shared_until_the_file_changes(tmp_path: Path) -> None:
    override = tmp_path / "spec.yaml"
    override.write_text("options:\n  retries: 2\n")
    first = load_spec(override)
    assert load_spec(override) is first
    override.write_text("options:\n  retries: 3  # size changes too: mtime alone can tie\n")
    second = load_spec(override)
    assert second is not first
    assert (first.options.retries, second.options.retries) == (2, 3)
