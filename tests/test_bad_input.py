"""Bad input never crashes and work per message is bounded: bad bytes, huge messages, hostile patterns, file modes."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hololoom_core.cli.main import main as cli_main
from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.engine.pipeline import ANALYSIS_CHARS, MAX_MESSAGE_CHARS
from hololoom_core.memory.service import MemoryService
from hololoom_core.models import ChatMessage
from hololoom_core.ops.workflows.expressions import ExpressionError, parse_expression
from hololoom_core.text.clean import clean_text
from hololoom_core.text.entities import extract_entities
from hololoom_core.transport.matrix.state import MatrixState


def _config(data_dir: Path, **sections: object) -> Config:
    return Config.model_validate({"hololoom": {"data_dir": str(data_dir)}, "store": {"synchronous": "normal"},
                                  **sections})


@pytest.fixture
async def engine(tmp_path: Path):
    engine = Engine(_config(tmp_path / "data"))
    yield engine
    await engine.close()


def _finishes_within(seconds: float, work: Callable[[], object]) -> float:
    """Run `work` in a thread; fail when it has not finished after `seconds` (a guard, not a measurement)."""
    started = time.perf_counter()
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return time.perf_counter() - started


# -- bad characters --------------------------------------------------------------------------------


def test_clean_text_replaces_lone_surrogates_and_keeps_pairs() -> None:
    assert clean_text("bad \ud800 end") == "bad \ufffd end"
    assert clean_text("emoji \ud83d\ude00 kept") == "emoji \U0001f600 kept"
    assert clean_text("byte \udcff") == "byte \ufffd"
    assert clean_text("plain é ✓") == "plain é ✓"


async def test_lone_surrogates_in_every_field_are_stored_as_replacement_characters(engine: Engine) -> None:
    result = await engine.handle(ChatMessage(room_id="#ops\ud800", sender="al\udcffice", body="bad \ud800",
                                             sender_name="Al\ud801", thread_id="$t\udc80"))
    assert result.message is not None
    stored = engine.messages.get(result.message.id)
    assert stored is not None
    assert (stored.body, stored.room_id, stored.sender) == ("bad \ufffd", "#ops\ufffd", "al\ufffdice")
    command = await engine.handle(ChatMessage(room_id="#ops", sender="bob", body="!help \ud800"))
    assert command.replies and "\ud800" not in command.replies[0].body
    review = await engine.handle(ChatMessage(room_id="#ops", sender="bob", body="!review \ud800"))  # raw input
    assert review.replies and "failed inside" not in review.replies[0].body


async def test_matrix_room_and_member_names_with_lone_surrogates_are_stored(engine: Engine) -> None:
    state = MatrixState(engine.store)
    state.upsert_room("!r:localhost", membership="join", name="ops \ud800")
    state.record_membership(event_id="$m1", room_id="!r:localhost", user_id="@a:localhost", sender="@a:localhost",
                            membership="join", prev_membership=None, display_name="Al\udcffice", ts=1.0)
    state.snapshot_members("!r:localhost", {"@b:localhost": "B\ud801"}, 2.0)
    record = state.room("!r:localhost")
    assert record is not None and record.name == "ops \ufffd"
    names = {row["display_name"] for row in engine.store.query("SELECT display_name FROM matrix_members")}
    assert names == {"Al\ufffdice", "B\ufffd"}


@pytest.mark.parametrize("argv", [
    ["say", "\udcff"],  # what `hololoom say $'\xff'` gets from sys.argv (surrogateescape)
    ["say", "--as", "al\udcffice", "hello"],
    ["ask", "why \udcff"],
    ["recall", "why \udcff"],
    ["say", "bad \ud800 text", "--json"],
])
def test_cli_arguments_with_bad_bytes(tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--data-dir", str(tmp_path), *argv]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    out = captured.out
    out.encode("utf-8")  # printable: no surrogate reached the output


def test_cli_stores_bad_bytes_as_replacement_characters(tmp_path: Path) -> None:
    assert cli_main(["--data-dir", str(tmp_path), "say", "--as", "al\udcffice", "caf\udcc3 \udcff"]) == 0
    engine = Engine(_config(tmp_path))
    try:
        stored = engine.messages.get(1)
        assert stored is not None and stored.sender == "al\ufffdice" and "\ufffd" in stored.body
    finally:
        engine.store.close()


@pytest.mark.parametrize("content", [b"detectors:\n  decision:\n    threshold: 0.5 \xff\xfe\n",
                                     b"\x00\x01binary\x00"])
def test_a_pattern_file_that_is_not_text_is_one_line_and_exit_2(tmp_path: Path, content: bytes,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "patterns.yaml").write_bytes(content)
    for argv in (["say", "hello"], ["detect", "we decided to ship"], ["recall", "ship"]):
        assert cli_main(["--data-dir", str(tmp_path), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "patterns.yaml" in err and "Traceback" not in err, err


def test_an_unreadable_pattern_file_is_one_line_and_exit_2(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "patterns.yaml").mkdir()  # readable by nobody as a file, even by root
    assert cli_main(["--data-dir", str(tmp_path), "say", "hello"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err


def test_a_spec_file_that_is_not_text_is_one_line_and_exit_2(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"sections:\n  - name: PLAN \xff\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"promptly:\n  spec: {spec}\n", encoding="utf-8")
    assert cli_main(["--config", str(config), "--data-dir", str(tmp_path / "data"), "say", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not UTF-8" in err and "Traceback" not in err, err


# -- bounded work ----------------------------------------------------------------------------------


async def test_a_message_over_the_size_limit_is_stored_whole_and_gets_one_reply(engine: Engine) -> None:
    body = "!incident declare huge sev1 " + "x" * MAX_MESSAGE_CHARS
    result = await engine.handle(ChatMessage(room_id="#ops", sender="alice", body=body))
    [reply] = result.replies
    assert "over the 64 KB limit" in reply.body and "stored" in reply.body
    assert result.message is not None
    stored = engine.messages.get(result.message.id)
    assert stored is not None and stored.body == body
    assert engine.store.scalar("SELECT count(*) FROM incidents") == 0  # the command was not run
    ok = await engine.handle(ChatMessage(room_id="#ops", sender="alice", body="!help " + "x" * 1000))
    assert "limit" not in ok.replies[0].body


async def test_analysis_reads_only_the_first_part_of_a_long_message(engine: Engine) -> None:
    body = "checkout-api is down. " + "filler " * (ANALYSIS_CHARS // 7) + " payments-api is down too"
    result = await engine.handle(ChatMessage(room_id="#ops", sender="alice", body=body))
    assert result.message is not None
    stored = engine.messages.get(result.message.id)
    assert stored is not None and stored.body == body  # the whole text is stored
    graph = engine.capability(MemoryService).graph
    assert graph.node("service:checkout-api") is not None
    assert graph.node("service:payments-api") is None  # past the analysed part


@pytest.mark.parametrize("text", [
    "a." * 20000,  # hosts, files: 42 s on main through `hololoom say`
    "ab-" * 15000,  # services
    "x1-" * 15000 + ".prod",  # one long host
    "-." * 20000 + "/x.py",  # paths
])
def test_entity_patterns_finish_on_hostile_text(text: str) -> None:
    _finishes_within(10.0, lambda: extract_entities(text))


async def test_hostile_text_through_the_engine_finishes(engine: Engine) -> None:
    body = "a." * 30000  # 60 KB
    started = time.perf_counter()
    await engine.handle(ChatMessage(room_id="#ops", sender="alice", body=body))
    assert time.perf_counter() - started < 15.0  # a guard: minutes before the patterns were bounded


def test_entities_still_found_with_bounded_patterns() -> None:
    found = {(e.kind, e.value) for e in extract_entities(
        "db-1.eu-west.prod and checkout-api-v2-canary-svc see src/app/main.py:12 and @bob:example.org "
        "commit 3f9a2c1d, https://x.io/a")}
    assert {("host", "db-1.eu-west.prod"), ("service", "checkout-api-v2-canary-svc"),
            ("file", "src/app/main.py:12"), ("person", "bob"), ("commit", "3f9a2c1d"),
            ("url", "https://x.io/a")} <= found


def test_workflow_matches_runs_in_linear_time_and_reports_unsupported_syntax() -> None:
    expression = parse_expression("t matches '^(a+)+$'")
    text = "a" * 50000 + "!"
    _finishes_within(5.0, lambda: expression.truth({"t": text}))  # 10 s on main at 30 characters
    assert expression.truth({"t": "aaaa"}) is True
    with pytest.raises(ExpressionError, match="RE2 syntax"):
        parse_expression(r"t matches '(a)\\1'").truth({"t": "aa"})


# -- file modes ------------------------------------------------------------------------------------


async def test_data_dir_database_and_wal_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    engine = Engine(_config(data_dir))
    try:
        await engine.handle(ChatMessage(room_id="#ops", sender="alice", body="hello"))
        assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{engine.config.database_path}{suffix}")
            assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    finally:
        await engine.close()


def test_an_existing_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    engine = Engine(_config(tmp_path))
    path = engine.config.database_path
    engine.store.close()
    os.chmod(path, 0o644)
    Engine(_config(tmp_path)).store.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
