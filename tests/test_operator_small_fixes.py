"""The small operator fixes of issue 16: CLI hints, config problems listed, help prefixes, incident texts, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from hololoom_core.cli.main import main
from hololoom_core.config import ConfigError, load_config
from hololoom_core.engine import Engine
from hololoom_core.ops.incidents.postmortem import without_root_cause
from hololoom_core.transport.local import LocalRoom


def test_a_mistyped_option_names_the_subcommand_and_the_closest_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ask", "--jsn", "why"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.strip() == "hololoom ask: unrecognized arguments: --jsn (did you mean --json?) (see hololoom ask --help)"


def test_every_config_problem_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("llm:\n  provider: nope\n  temperature: hot\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path), data_dir=tmp_path, environ={})
    text = str(caught.value)
    assert "'llm.provider'" in text and "'llm.temperature'" in text and "more problem" not in text
    assert "\n" not in text


async def test_help_prefixes_every_usage_alternative(engine: Engine) -> None:
    result = await LocalRoom(engine).post("alice", "!help")
    body = result.replies[0].body
    assert "`!actions [@user] [all] | !actions done N`" in body


async def test_incident_show_and_postmortem_texts(engine: Engine) -> None:
    room = LocalRoom(engine)
    await room.post("alice", "!incident declare checkout-api 500s sev2")
    shown = (await room.post("alice", "!incident show INC-1")).replies[0].body
    assert "Acknowledged: not yet" in shown and "— after declaration" not in shown
    await room.post("alice", "!incident resolve INC-1 root cause: pool_size set to 5 by 3f9a2c1")
    postmortem = (await room.post("alice", "!incident postmortem INC-1")).replies[0].body
    assert "root cause: root cause" not in postmortem.lower()
    assert "Resolution (as stated" not in postmortem  # the note was only the root cause, stated once below
    assert "> pool_size set to 5 by 3f9a2c1" in postmortem


def test_resolution_keeps_what_is_not_the_root_cause() -> None:
    assert without_root_cause("reverted 3f9a2c1; root cause: bad pool size", "bad pool size") == "reverted 3f9a2c1"
    assert without_root_cause("rolled back", "bad pool size") == "rolled back"


async def test_a_github_token_is_masked_whole(engine: Engine) -> None:
    token = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"
    result = await LocalRoom(engine).post("alice", f'!review\n```python\nTOKEN = "{token}"\n```')
    body = result.replies[0].body
    assert "github-token" in body and "`ghp_…(40 chars)`" in body
    assert token[4:] not in body and "(3 chars)" not in body
