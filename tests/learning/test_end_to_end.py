"""Feedback → mining → export → docs → promote, on a real engine and SQLite file, with planted secrets and PII."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from hololoom_core.cli.main import main
from hololoom_core.config import Config, load_config
from hololoom_core.engine import Engine
from hololoom_core.learning import TeamLearning
from hololoom_core.learning.export import validation_errors
from hololoom_core.learning.mining import (
    REASON_NO_THUMBS_UP,
    REASON_QUALITY,
    REASON_ROOM,
    REASON_THUMBS_DOWN,
    REASON_USER,
)
from hololoom_core.llm.runbooks import load_runbook
from hololoom_core.transport.local import LocalRoom

# Built at run time so no scanner mistakes the test for a leak; each must never reach an exported file.
AWS_KEY = "AKIA" + "J5RT8WQ2ZX7M4KPB"
GITHUB_TOKEN = "ghp_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8"
PASSWORD = "s3cr3t-" + "Walrus-42"
EMAIL = "dana.w" + "@corp.example.com"
PHONE = "+44 20 7946 " + "0958"
IP = "10.20." + "30.40"
PLANTED = [AWS_KEY, GITHUB_TOKEN, PASSWORD, EMAIL, PHONE, IP, "Alice Chen", "Bob Okafor"]


async def ask(room: LocalRoom, who: str, text: str) -> int:
    result = await room.post(who, text, to_bot=True)
    answers = [reply.answer for reply in result.replies if reply.answer is not None]
    assert answers and answers[0].interaction_id is not None, f"no answer to {text!r}"
    return answers[0].interaction_id


async def seed(engine: Engine) -> dict[str, int]:
    """Questions, ratings, an opt-out, a Matrix-room answer and a resolved incident."""
    room = LocalRoom(engine)
    ids = {}
    await room.post("priya", "!incident declare checkout-api returning 500s sev2")
    ids["good"] = await ask(room, "alice", f"why is checkout-api returning 500s? Alice Chen here, mail {EMAIL}, "
                                           f"call {PHONE}, the pod is on {IP}, key {AWS_KEY}")
    ids["near_duplicate"] = await ask(room, "bob", f"Why is checkout-api returning 500s?? Alice Chen here, mail "
                                                   f"{EMAIL}, call {PHONE}, the pod is on {IP}, key {AWS_KEY}")
    await room.post("priya", "we decided to roll back checkout-api to the previous release")
    await room.post("priya", f"!incident resolve rolled back the deploy. root cause: the new build leaked db "
                             f"connections (token {GITHUB_TOKEN} was in the config, told Bob Okafor)")
    ids["thumbs_down"] = await ask(room, "bob", f"disk is full on db-7, what should I delete first? "
                                                f"password={PASSWORD}")
    ids["preferred"] = await ask(room, "operator", f"Disk is full on db-7, what should I delete first? "
                                                   f"password={PASSWORD}")
    ids["unrated"] = await ask(room, "alice", "how do I rotate the TLS certificate of the ingress?")
    await room.post("carol", "!learning optout")
    ids["opted_out"] = await ask(room, "carol", "queue backlog on orders-worker keeps growing, what now?")
    with engine.store.transaction() as conn:
        conn.execute("INSERT INTO rooms(room_id, transport, name, created_ts, last_ts) VALUES (?, 'matrix', ?, 0, 0)",
                     ("!team:example.org", "team"))
    matrix_answer = await engine.ask("why is dns resolution timing out?", room_id="!team:example.org", asker="@dave:x")
    assert matrix_answer.interaction_id is not None
    ids["matrix"] = matrix_answer.interaction_id
    for key in ("good", "near_duplicate", "preferred", "opted_out", "matrix"):
        assert engine.record_feedback(ids[key], "reviewer", 1, "app")
    assert engine.record_feedback(ids["thumbs_down"], "reviewer", -1, "app")
    return ids


def exported_text(*directories: Path) -> str:
    return "\n".join(path.read_text("utf-8") for directory in directories for path in sorted(directory.iterdir()))


@pytest.fixture
def learning_config(tmp_path: Path) -> Config:
    config = load_config(None, data_dir=tmp_path / "data", environ={})
    config.learning.min_quality = 0.5
    return config


async def test_feedback_to_export_to_docs_from_a_fresh_data_dir(learning_config: Config, tmp_path: Path) -> None:
    engine = Engine(learning_config)
    await engine.start()
    try:
        ids = await seed(engine)
        learning = engine.capability(TeamLearning)
        out, docs = tmp_path / "export", tmp_path / "docs"
        summary = learning.export(out)
        report = learning.last_report
        assert report is not None
        by_id = {example.interaction_id: example for example in report.examples}

        # what was kept, collapsed and excluded, and why
        assert {by_id[ids["good"]].status, by_id[ids["near_duplicate"]].status} == {"kept", "duplicate"}
        assert by_id[ids["preferred"]].status == "kept"
        assert by_id[ids["thumbs_down"]].reason == REASON_THUMBS_DOWN
        assert by_id[ids["unrated"]].reason in (REASON_NO_THUMBS_UP, REASON_QUALITY)
        assert by_id[ids["opted_out"]].reason == REASON_USER
        assert by_id[ids["matrix"]].reason == REASON_ROOM
        counts = summary.counts
        assert counts["excluded_by_reason"][REASON_USER] == 1
        assert counts["excluded_by_reason"][REASON_ROOM] == 1
        assert counts["duplicate"] == 1

        # the files: schema-valid records, a preference pair, a card, private modes
        train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
        preference = [json.loads(line) for line in (out / "preference.jsonl").read_text().splitlines()]
        assert all(not validation_errors(record, "train_record") for record in train)
        assert all(not validation_errors(record, "preference_record") for record in preference)
        assert len(train) == summary.files["train.jsonl"] == counts["kept"]
        sources = {record["metadata"]["source"] for record in train}
        assert sources == {"interaction", "incident"}
        good = next(r for r in train if r["metadata"]["interaction_id"] in (ids["good"], ids["near_duplicate"]))
        assert good["metadata"]["resolved"] is True and good["metadata"]["incidents"] == ["INC-1"]
        assert good["metadata"]["duplicates_collapsed"] == 1
        assert good["metadata"]["room_hash"] and "#ops" not in json.dumps(good["metadata"])
        assert {"email", "phone", "ip", "member-name"} <= set(good["metadata"]["redactions"])
        assert [(p["metadata"]["chosen_interaction_id"], p["metadata"]["rejected_interaction_id"])
                for p in preference] == [(ids["preferred"], ids["thumbs_down"])]
        card = (out / "README.md").read_text()
        assert card.startswith("---\nlicense: other\n") and "size_categories" in card and "## Consent" in card
        for path in out.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(out.stat().st_mode) == 0o700

        # docs: a page per topic citing its sources, the incident with its root cause and decision
        docs_summary = learning.generate_docs(docs)
        topic = by_id[ids["good"]].topic
        assert topic in docs_summary.pages
        page = (docs / f"{topic}.md").read_text()
        assert f"interaction {by_id[ids['good']].interaction_id}" in page or \
            f"interaction {ids['near_duplicate']}" in page
        assert "INC-1" in page and "leaked db connections" in page
        assert "Decision:" in page
        assert f"{topic}.md" in (docs / "index.md").read_text()

        # nothing planted reaches any exported file (or the redaction log, or the pages)
        text = exported_text(out, docs)
        for planted in PLANTED:
            assert planted not in text, planted

        # promotion: stored for review, a valid runbook, and not loaded by any engine
        reply = (await LocalRoom(engine).post("priya", f"!learning promote {topic}")).replies[0].body
        assert f"candidate-{topic}" in reply
        candidate = learning.candidates()[0]
        assert candidate.status == "review"
        assert load_runbook(Path(candidate.path)).id == f"candidate-{topic}"
        assert engine.runbooks.get(f"candidate-{topic}") is None
    finally:
        await engine.close()
    fresh = Engine(learning_config)
    try:
        assert fresh.runbooks.get(f"candidate-{topic}") is None
        assert all(not source.ref.startswith("candidate-") for source in (await fresh.ask("checkout-api 500s")).sources)
    finally:
        await fresh.close()


async def test_opt_in_again_and_room_consent(learning_config: Config) -> None:
    learning_config.learning.rooms = {"!team:example.org": True}
    engine = Engine(learning_config)
    await engine.start()
    try:
        ids = await seed(engine)
        room = LocalRoom(engine)
        reply = (await room.post("carol", "!learning optin")).replies[0].body
        assert "again" in reply
        report = engine.capability(TeamLearning).mine()
        by_id = {example.interaction_id: example for example in report.examples}
        assert by_id[ids["opted_out"]].status == "kept"
        assert by_id[ids["matrix"]].status == "kept"
        assert by_id[ids["matrix"]].consent["room_basis"] == "learning.rooms[!team:example.org]"
        strict = engine.capability(TeamLearning).mine(min_quality=1.0)
        assert all(e.status != "kept" for e in strict.examples if e.source == "interaction")
    finally:
        await engine.close()


def test_cli_feedback_and_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["ask", "why is checkout-api returning 500s?", "--json", *data]) == 0
    interaction = json.loads(capsys.readouterr().out)["interaction_id"]
    assert main(["feedback", str(interaction), "up", "--as", "alice", *data]) == 0
    assert "👍 recorded" in capsys.readouterr().out
    assert main(["feedback", str(interaction), "down", "--as", "alice", *data]) == 0  # changes alice's rating
    assert "net -1" in capsys.readouterr().out
    assert main(["feedback", "999", "up", *data]) == 1
    assert "no interaction 999" in capsys.readouterr().err
    assert main(["feedback", str(interaction), "sideways", *data]) == 2
    assert main(["learn", "export", str(tmp_path / "out"), "--since", "yesterday", *data]) == 2
    assert "--since 'yesterday'" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["learn", "export", str(tmp_path / "file"), *data]) == 1
    assert "not a directory" in capsys.readouterr().err
    assert main(["learn", "docs", str(tmp_path / "docs"), "--topic", "nope", *data]) == 1
    assert "no topic 'nope'" in capsys.readouterr().err
    assert main(["feedback", str(interaction), "up", "--as", "alice", *data]) == 0
    assert main(["learn", "export", str(tmp_path / "out"), "--since", "2000-01-01", "--format", "messages",
                 *data]) == 0
    assert (tmp_path / "out" / "train.jsonl").exists() and not (tmp_path / "out" / "preference.jsonl").exists()
