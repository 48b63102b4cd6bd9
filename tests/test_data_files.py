"""Schema checks for the shipped data files: runbooks and simulated-room scenarios.

Self-contained on purpose: it reads the YAML files with PyYAML and does not import
hololoom_core, so a broken data file is reported even when the engine cannot start.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK_DIR = ROOT / "hololoom_core" / "llm" / "runbooks"
SCENARIO_DIR = ROOT / "hololoom_core" / "transport" / "scenarios"

REQUIRED_RUNBOOK_IDS = {
    "http-5xx",
    "latency-spike",
    "db-connection-pool-exhaustion",
    "disk-full",
    "memory-leak-oom",
    "cpu-saturation",
    "certificate-expiry",
    "dns-failure",
    "failed-deploy-rollback",
    "queue-backlog",
    "login-auth-failures",
    "rate-limiting",
    "leaked-credentials",
    "cache-stampede",
    "replication-lag",
    "network-partition-packet-loss",
    "kubernetes-crashloop",
    "backup-restore-failure",
}
REQUIRED_SCENARIOS = {"api-500-incident", "deploy-rollback", "code-review"}

RUNBOOK_KEYS = {
    "id", "title", "summary", "keywords", "symptoms", "triage",
    "remediation", "verify", "escalate", "severity_hint", "related",
}
SCENARIO_KEYS = {"name", "title", "description", "room", "speakers", "messages"}
SPEAKER_KEYS = {"id", "display_name", "role"}
MESSAGE_KEYS = {"as", "text", "delay"}
MESSAGE_OPTIONAL_KEYS = {"thread"}

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SPEAKER_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
PLACEHOLDER_RE = re.compile(r"\b(TBD|FIXME|XXX|lorem ipsum)\b", re.IGNORECASE)
# Runbook text must not contain TODO placeholders; scenarios may (people write "TODO:" in chat).
RUNBOOK_PLACEHOLDER_RE = re.compile(r"\b(TODO|TBD|FIXME|XXX|lorem ipsum)\b", re.IGNORECASE)

# (key, min, max) for list lengths in a runbook
RUNBOOK_LIST_BOUNDS = [
    ("keywords", 8, 25),
    ("symptoms", 3, 6),
    ("triage", 4, 8),
    ("remediation", 3, 7),
    ("verify", 2, 4),
]


def _load(path: Path):
    with path.open("r", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _runbook_paths() -> list[Path]:
    return sorted(RUNBOOK_DIR.glob("*.yaml"))


def _scenario_paths() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.yaml"))


def _all_runbooks() -> dict[str, dict]:
    return {p.stem: _load(p) for p in _runbook_paths()}


def _is_nonempty_str(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(_is_nonempty_str(v) for v in value)


# --------------------------------------------------------------------------- runbooks


def test_runbook_directory_has_enough_files():
    paths = _runbook_paths()
    assert len(paths) >= 18, f"expected at least 18 runbooks in {RUNBOOK_DIR}, found {len(paths)}"
    stray = [p.name for p in RUNBOOK_DIR.iterdir() if p.suffix == ".yml"]
    assert not stray, f"use the .yaml extension, not .yml: {stray}"


def test_every_required_runbook_present():
    present = {p.stem for p in _runbook_paths()}
    missing = REQUIRED_RUNBOOK_IDS - present
    assert not missing, f"missing runbooks: {sorted(missing)}"


@pytest.mark.parametrize("path", _runbook_paths(), ids=lambda p: p.stem)
def test_runbook_schema(path: Path):
    data = _load(path)
    assert isinstance(data, dict), f"{path.name}: top level must be a mapping"

    keys = set(data)
    assert keys >= RUNBOOK_KEYS, f"{path.name}: missing keys {sorted(RUNBOOK_KEYS - keys)}"
    assert keys <= RUNBOOK_KEYS, f"{path.name}: unknown keys {sorted(keys - RUNBOOK_KEYS)}"

    assert data["id"] == path.stem, f"{path.name}: id {data['id']!r} must equal file stem"
    assert ID_RE.match(data["id"]), f"{path.name}: id must be lowercase words joined by dashes"

    for key in ("title", "summary", "escalate"):
        assert _is_nonempty_str(data[key]), f"{path.name}: {key} must be a non-empty string"
        assert "\n" not in data[key].strip(), f"{path.name}: {key} must be one line"

    for key, lo, hi in RUNBOOK_LIST_BOUNDS:
        value = data[key]
        assert _is_str_list(value), f"{path.name}: {key} must be a list of non-empty strings"
        assert lo <= len(value) <= hi, f"{path.name}: {key} has {len(value)} items, want {lo}-{hi}"
        for item in value:
            assert "\n" not in item.strip(), f"{path.name}: {key} item must be one line: {item!r}"
        lowered = [v.strip().lower() for v in value]
        assert len(set(lowered)) == len(lowered), f"{path.name}: duplicate entries in {key}"

    assert data["severity_hint"] in {"sev1", "sev2", "sev3", "sev4"}, (
        f"{path.name}: severity_hint must be sev1..sev4, got {data['severity_hint']!r}"
    )

    related = data["related"]
    assert isinstance(related, list) and related, f"{path.name}: related must be a non-empty list"
    assert all(isinstance(r, str) for r in related), f"{path.name}: related ids must be strings"
    assert data["id"] not in related, f"{path.name}: a runbook must not relate to itself"
    assert len(set(related)) == len(related), f"{path.name}: duplicate related ids"

    # Triage steps should mostly carry a concrete command in backticks.
    with_cmd = sum(1 for step in data["triage"] if "`" in step)
    assert with_cmd >= len(data["triage"]) // 2, (
        f"{path.name}: at least half the triage steps should include a `command`"
    )
    for field in ("triage", "remediation", "verify", "symptoms"):
        for item in data[field]:
            assert item.count("`") % 2 == 0, f"{path.name}: unbalanced backticks in {field}: {item!r}"

    text = yaml.safe_dump(data)
    assert not RUNBOOK_PLACEHOLDER_RE.search(text), f"{path.name}: contains a placeholder word"


def test_runbook_related_ids_exist():
    runbooks = _all_runbooks()
    known = set(runbooks)
    problems = []
    for rid, data in runbooks.items():
        for other in data.get("related") or []:
            if other not in known:
                problems.append(f"{rid}.yaml -> {other}")
    assert not problems, f"related ids with no runbook: {problems}"


def test_runbook_titles_unique():
    titles = [d["title"].strip().lower() for d in _all_runbooks().values()]
    assert len(titles) == len(set(titles)), "runbook titles must be unique"


# -------------------------------------------------------------------------- scenarios


def test_scenario_directory_has_enough_files():
    paths = _scenario_paths()
    assert len(paths) >= 5, f"expected at least 5 scenarios in {SCENARIO_DIR}, found {len(paths)}"
    present = {p.stem for p in paths}
    missing = REQUIRED_SCENARIOS - present
    assert not missing, f"missing scenarios: {sorted(missing)}"


@pytest.mark.parametrize("path", _scenario_paths(), ids=lambda p: p.stem)
def test_scenario_schema(path: Path):
    data = _load(path)
    assert isinstance(data, dict), f"{path.name}: top level must be a mapping"

    keys = set(data)
    assert keys >= SCENARIO_KEYS, f"{path.name}: missing keys {sorted(SCENARIO_KEYS - keys)}"
    assert keys <= SCENARIO_KEYS, f"{path.name}: unknown keys {sorted(keys - SCENARIO_KEYS)}"

    assert data["name"] == path.stem, f"{path.name}: name {data['name']!r} must equal file stem"
    assert ID_RE.match(data["name"]), f"{path.name}: name must be lowercase words joined by dashes"
    for key in ("title", "description", "room"):
        assert _is_nonempty_str(data[key]), f"{path.name}: {key} must be a non-empty string"
    assert data["room"].startswith("#"), f"{path.name}: room should look like '#ops'"

    speakers = data["speakers"]
    assert isinstance(speakers, list), f"{path.name}: speakers must be a list"
    assert 3 <= len(speakers) <= 5, f"{path.name}: want 3-5 speakers, got {len(speakers)}"
    speaker_ids = []
    for sp in speakers:
        assert isinstance(sp, dict), f"{path.name}: each speaker must be a mapping"
        assert set(sp) == SPEAKER_KEYS, f"{path.name}: speaker keys must be {sorted(SPEAKER_KEYS)}, got {sorted(sp)}"
        for key in SPEAKER_KEYS:
            assert _is_nonempty_str(sp[key]), f"{path.name}: speaker {key} must be a non-empty string"
        assert SPEAKER_ID_RE.match(sp["id"]), f"{path.name}: speaker id {sp['id']!r} must be lowercase"
        assert sp["id"] != "hololoom", f"{path.name}: the bot must not be a scripted speaker"
        speaker_ids.append(sp["id"])
    assert len(set(speaker_ids)) == len(speaker_ids), f"{path.name}: duplicate speaker ids"

    messages = data["messages"]
    assert isinstance(messages, list), f"{path.name}: messages must be a list"
    assert 12 <= len(messages) <= 30, f"{path.name}: want 12-30 messages, got {len(messages)}"
    used = set()
    total_delay = 0.0
    for i, msg in enumerate(messages):
        where = f"{path.name}: message {i}"
        assert isinstance(msg, dict), f"{where} must be a mapping"
        mkeys = set(msg)
        assert mkeys >= MESSAGE_KEYS, f"{where} missing keys {sorted(MESSAGE_KEYS - mkeys)}"
        extra = mkeys - MESSAGE_KEYS - MESSAGE_OPTIONAL_KEYS
        assert not extra, f"{where} has unknown keys {sorted(extra)}"
        assert msg["as"] != "hololoom", f"{where}: 'hololoom' may not speak in a scenario"
        assert msg["as"] in speaker_ids, f"{where}: speaker {msg['as']!r} is not declared"
        used.add(msg["as"])
        assert _is_nonempty_str(msg["text"]), f"{where}: text must be a non-empty string"
        delay = msg["delay"]
        assert isinstance(delay, float) and not isinstance(delay, bool), (
            f"{where}: delay must be a float (write 2.0, not 2), got {delay!r}"
        )
        assert 0.0 <= delay <= 10.0, f"{where}: delay {delay} outside 0-10 seconds"
        total_delay += delay
        if "thread" in msg:
            assert _is_nonempty_str(msg["thread"]), f"{where}: thread must be a non-empty string"
    assert used == set(speaker_ids), f"{path.name}: speakers who never talk: {sorted(set(speaker_ids) - used)}"
    assert 20.0 <= total_delay <= 60.0, f"{path.name}: delays sum to {total_delay:.1f}s, want 20-60"

    texts = [m["text"] for m in messages]
    assert any("@hololoom" in t for t in texts), f"{path.name}: nobody addresses @hololoom"
    assert not PLACEHOLDER_RE.search(yaml.safe_dump(data)), f"{path.name}: contains a placeholder word"


def test_required_scenarios_content():
    """The three named scenarios carry the signals the engine's detectors look for."""
    def texts(name: str) -> str:
        return "\n".join(m["text"] for m in _load(SCENARIO_DIR / f"{name}.yaml")["messages"])

    api = texts("api-500-incident").lower()
    assert "checkout-api" in api and "500" in api
    assert "decided to roll back" in api
    assert "todo:" in api and "@bob" in api and "friday" in api
    assert "?" in api and "{incident}" in api  # the replay puts in the id the engine gave the incident

    deploy = texts("deploy-rollback").lower()
    assert "roll back" in deploy and "actually, let's not roll back" in deploy
    assert re.search(r"@hololoom[^\n]*roll", deploy)

    review = texts("code-review")
    assert re.search(r"src/payments/refund\.py:\d+", review)
    assert re.search(r"\b[0-9a-f]{7}\b", review)
    assert "@hololoom" in review and "Decision" in review
