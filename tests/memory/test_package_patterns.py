"""Installed marketplace packages' `patterns/*.yaml` in the pattern book: laid over the shipped patterns,
under the operator's file, picked up (and dropped) without a restart, broken files reported in one line."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hololoom_core.engine import Engine
from hololoom_core.events import EngineError
from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.publish import publish
from hololoom_core.marketplace.service import Marketplace
from hololoom_core.memory.detectors import analyse_text
from hololoom_core.memory.patterns import PatternBook, PatternError, check_pattern_overlay
from hololoom_core.packages import active_root
from tests.marketplace.support import make_config as market_config
from tests.marketplace.support import make_key, package_folder, trusted
from tests.memory.conftest import say

MOTION = "motion carried: canary goes to 50%"
RFC = "rfc-42 accepted by the board"
MOTION_PATTERNS = """\
detectors:
  decision:
    add_patterns:
      - {id: motion-carried, weight: 0.9, regex: "\\\\bmotion\\\\s+carried\\\\b"}
"""
RFC_PATTERNS = """\
detectors:
  decision:
    add_patterns:
      - {id: rfc-accepted, weight: 0.9, regex: "\\\\brfc-\\\\d+\\\\s+accepted\\\\b"}
"""


def kinds(book: PatternBook, text: str, room: str = "#ops") -> set[str]:
    return {d.kind for d in analyse_text(text, book.for_room(room))}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime + 5
    os.utime(path, (stamp, stamp))  # a visible change even within one mtime tick


def lay_package(data_dir: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A package version folder and the `active/NAME` link to it, laid out the way the marketplace does."""
    folder = data_dir / "marketplace" / "packages" / name / version
    for relative, text in files.items():
        write(folder / relative, text)
    active = active_root(data_dir)
    active.mkdir(parents=True, exist_ok=True)
    link = active / name
    temporary = active / f".{name}.tmp"
    os.symlink(os.path.relpath(folder, active), temporary)
    os.replace(temporary, link)
    return folder


def test_a_package_pattern_is_laid_over_the_shipped_ones_and_follows_install_update_remove(tmp_path: Path) -> None:
    data = tmp_path / "data"
    reloads: list[str] = []
    book = PatternBook(None, data_dir=data, check_interval=0.0, on_reload=reloads.append)
    assert "decision" not in kinds(book, MOTION)
    lay_package(data, "votes", "1.0.0", {"patterns/decisions.yaml": MOTION_PATTERNS})
    assert "decision" in kinds(book, MOTION)
    assert "decision" in kinds(book, "We decided to roll back")  # the shipped patterns stay
    assert reloads and "1 package(s)" in reloads[-1]
    assert "package votes: patterns/decisions.yaml" in book.describe()

    lay_package(data, "votes", "2.0.0", {"patterns/decisions.yaml": RFC_PATTERNS})  # update: the link moves
    assert "decision" not in kinds(book, MOTION)
    assert "decision" in kinds(book, RFC)
    lay_package(data, "votes", "1.0.0", {"patterns/decisions.yaml": MOTION_PATTERNS})  # rollback
    assert "decision" in kinds(book, MOTION) and "decision" not in kinds(book, RFC)

    os.unlink(active_root(data) / "votes")  # removed
    assert "decision" not in kinds(book, MOTION)
    assert "package votes" not in book.describe()


def test_packages_in_name_then_file_order_and_the_operator_file_wins(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lay_package(data, "b-kit", "1", {"patterns/a.yaml": "detectors:\n  question: {threshold: 0.95}\n"})
    lay_package(data, "a-kit", "1", {"patterns/b.yaml": "detectors:\n  question: {threshold: 0.10}\n",
                                     "patterns/a.yaml": "detectors:\n  question: {threshold: 0.20}\n"})
    operator = data / "patterns.yaml"
    book = PatternBook(operator, data_dir=data, check_interval=0.0)
    assert book.for_room("#ops").detectors["question"].threshold == 0.95  # b-kit comes last
    assert [layer.label for layer in book.layers] == [
        "package a-kit: patterns/a.yaml", "package a-kit: patterns/b.yaml", "package b-kit: patterns/a.yaml"]

    write(operator, "detectors:\n  question: {threshold: 0.5}\n")
    assert book.for_room("#ops").detectors["question"].threshold == 0.5  # the operator has the last word
    assert book.describe().endswith(f"package b-kit: patterns/a.yaml + {operator}; 1 room override(s); generation 2")

    lay_package(data, "c-kit", "1", {"patterns/votes.yaml": MOTION_PATTERNS})
    assert "decision" in kinds(book, MOTION)
    write(operator, "detectors:\n  decision:\n    patterns:\n"
                    "      - {id: only-this, weight: 0.9, regex: 'we decided'}\n")  # lists replace
    assert "decision" not in kinds(book, MOTION)
    assert "decision" in kinds(book, "we decided to roll back")


def test_a_package_room_entry_applies_to_its_rooms_and_the_operators_rooms_come_after(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lay_package(data, "quiet", "1", {"patterns/rooms.yml": "rooms:\n  '#quiet-*':\n    detectors:\n"
                                                          "      question: {enabled: false}\n"})
    operator = data / "patterns.yaml"
    write(operator, "rooms:\n  '#quiet-2':\n    detectors:\n      question: {enabled: true}\n")
    book = PatternBook(operator, data_dir=data)
    assert "question" not in kinds(book, "is the canary healthy?", "#quiet-1")
    assert "question" in kinds(book, "is the canary healthy?", "#quiet-2")
    assert "question" in kinds(book, "is the canary healthy?", "#ops")


@pytest.mark.parametrize(("text", "expected"), [
    ("detectors:\n  decision:\n    threshold: 2\n", "package votes: patterns/decisions.yaml:3: 'detectors.decision.threshold'"),
    ("detectors:\n  decision:\n    add_patterns:\n      - {id: bad, weight: 0.5, regex: 'a(b'}\n",
     "package votes: patterns/decisions.yaml:4 (pattern bad): bad regex"),
    ("detectors: [\n", "package votes: patterns/decisions.yaml:2: YAML syntax error"),
    ("- just a list\n", "package votes: patterns/decisions.yaml:1: a pattern file is a mapping"),
])
def test_a_broken_package_file_is_one_line_and_the_last_good_patterns_stay(tmp_path: Path, text: str,
                                                                          expected: str) -> None:
    data = tmp_path / "data"
    folder = lay_package(data, "votes", "1.0.0", {"patterns/decisions.yaml": MOTION_PATTERNS})
    operator = data / "patterns.yaml"
    write(operator, RFC_PATTERNS)
    errors: list[str] = []
    book = PatternBook(operator, data_dir=data, check_interval=0.0, on_error=errors.append)
    write(folder / "patterns" / "decisions.yaml", text)
    assert kinds(book, MOTION) == {"decision"}  # the last good package patterns are still in force
    assert "decision" in kinds(book, RFC) and "decision" in kinds(book, "We decided to roll back")
    assert len(errors) == 1 and errors[0].startswith(expected) and "\n" not in errors[0]
    assert book.last_error == errors[0]
    kinds(book, MOTION)
    assert len(errors) == 1  # reported once, not on every message
    write(folder / "patterns" / "decisions.yaml", MOTION_PATTERNS)
    assert "decision" in kinds(book, MOTION) and book.last_error is None


def test_a_broken_package_file_at_start_is_left_out_and_the_rest_is_used(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lay_package(data, "broken", "1", {"patterns/x.yaml": "detectors:\n  decisoin: {threshold: 0.5}\n"})
    lay_package(data, "votes", "1", {"patterns/decisions.yaml": MOTION_PATTERNS})
    operator = data / "patterns.yaml"
    write(operator, RFC_PATTERNS)
    errors: list[str] = []
    book = PatternBook(operator, data_dir=data, on_error=errors.append)
    assert errors == [book.last_error]
    assert book.last_error is not None and book.last_error.startswith("package broken: patterns/x.yaml:2: "
                                                                      "'detectors.decisoin' Input should be 'decision'")
    assert "decision" in kinds(book, MOTION) and "decision" in kinds(book, RFC)
    assert "package broken" not in book.describe()


def test_check_pattern_overlay_is_the_books_schema_check() -> None:
    assert check_pattern_overlay(MOTION_PATTERNS, "x.yaml")["detectors"]["decision"]["add_patterns"][0]["id"] \
        == "motion-carried"
    assert check_pattern_overlay("", "x.yaml") == {}
    with pytest.raises(PatternError, match=r"^x\.yaml:3: 'detectors\.decision\.add_patterns\.0\.weight'"):
        check_pattern_overlay("detectors:\n  decision:\n    add_patterns: [{id: a, regex: a, weight: 3}]\n",
                              "x.yaml")
    with pytest.raises(PatternError, match=r"^x\.yaml:1: 'version'"):
        check_pattern_overlay("version: 2\n", "x.yaml")


async def test_engine_detects_through_a_real_install_rollback_and_remove(engine_factory: Callable[..., Engine],
                                                                         tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = make_key(tmp_path / "keys", "team")
    registry = tmp_path / "registry"
    publish(package_folder(tmp_path / "src", "vote-kit", "1.0.0",
                           files={"patterns/decisions.yaml": MOTION_PATTERNS}), registry, key)
    publish(package_folder(tmp_path / "src", "vote-kit", "1.1.0",
                           files={"patterns/decisions.yaml": RFC_PATTERNS}), registry, key)
    market = Marketplace(market_config(data, [{"name": "team", "url": str(registry)}], trusted(key)))
    engine = engine_factory("bare", patterns_check_s=0.0)
    errors: list[EngineError] = []
    engine.bus.subscribe(lambda e: errors.append(e) if isinstance(e, EngineError) else None)

    async def decisions(text: str) -> list[str]:
        result = await say(engine, "alice", text)
        return [insight.kind for insight in result.insights if insight.kind == "decision"]

    assert await decisions(MOTION) == []
    plan = market.plan_install("vote-kit@==1.0.0")
    assert plan.changes[0].permissions.patterns == ["decisions"]
    market.commit(plan)
    assert await decisions(MOTION) == ["decision"]
    market.commit(market.plan_install("vote-kit@>=1.1"))
    assert await decisions(RFC) == ["decision"]
    assert await decisions(MOTION) == []
    market.rollback("vote-kit")
    assert await decisions(MOTION) == ["decision"]
    market.remove("vote-kit")
    assert await decisions(MOTION) == []
    assert errors == []
    await engine.close()


async def test_engine_starts_on_a_broken_package_file_reports_it_once_and_keeps_the_other_layers(
        engine_factory: Callable[..., Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    folder = lay_package(data, "votes", "1", {"patterns/decisions.yaml": "detectors:\n  decision: {threshold: x}\n"})
    write(data / "patterns.yaml", RFC_PATTERNS)
    caplog.set_level(logging.WARNING)
    engine = engine_factory("bare", patterns_check_s=0.0)
    reported = [r.getMessage() for r in caplog.records if "package votes" in r.getMessage()]
    assert len(reported) == 1 and "package votes: patterns/decisions.yaml:2: 'detectors.decision.threshold'" \
        in reported[0] and "(running without that file)" in reported[0]
    errors: list[EngineError] = []
    engine.bus.subscribe(lambda e: errors.append(e) if isinstance(e, EngineError) else None)

    async def decisions(text: str) -> list[str]:
        result = await say(engine, "alice", text)
        return [insight.kind for insight in result.insights if insight.kind == "decision"]

    assert await decisions(RFC) == ["decision"]  # the operator's file
    assert await decisions("We decided to roll back") == ["decision"]  # the shipped patterns
    assert await decisions(MOTION) == []
    write(folder / "patterns" / "decisions.yaml", MOTION_PATTERNS)  # the package is fixed (say, updated)
    assert await decisions(MOTION) == ["decision"]
    assert errors == []
    await engine.close()


def test_install_refuses_a_package_whose_patterns_fail_the_schema(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = make_key(tmp_path / "keys", "team")
    registry = tmp_path / "registry"
    bad = "detectors:\n  decision:\n    add_patterns:\n      - {id: loud, weight: 1.5, regex: 'ship it'}\n"
    publish(package_folder(tmp_path / "src", "bad-kit", "1.0.0", files={"patterns/decisions.yaml": bad}),
            registry, key)
    market = Marketplace(market_config(data, [{"name": "team", "url": str(registry)}], trusted(key)))
    with pytest.raises(MarketplaceError) as refused:
        market.plan_install("bad-kit")
    message = str(refused.value)
    assert "bad-kit 1.0.0" in message and "patterns/decisions.yaml:4: 'detectors.decision.add_patterns.0.weight'" \
        in message and "\n" not in message
    assert market.installed() == {}
    assert not (active_root(data) / "bad-kit").exists()
