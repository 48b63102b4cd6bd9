"""End to end on a real engine: `!route` corrections refit the router; collaborations carry their details."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hololoom_core.agents.service import MultiAgentService
from hololoom_core.engine import Engine
from hololoom_core.models import ChatMessage
from hololoom_core.transport.local import LocalRoom


async def test_route_in_reply_corrects_refits_and_measures_accuracy(engine: Engine) -> None:
    service = engine.capability(MultiAgentService)
    room = LocalRoom(engine)
    asked = await room.post("alice", "is TLS 1.0 still enabled on the public load balancer", to_bot=True)
    assert asked.replies and asked.replies[0].answer is not None
    answer = asked.replies[0].answer
    routed = answer.details["routing"]["agent"]
    reply_event = asked.replies[0].event_id
    corrected = await engine.handle(ChatMessage(room_id=room.room_id, sender="bob", body="!route security",
                                                transport="local", reply_to=reply_event))
    assert "belongs to **security**" in corrected.replies[0].body
    stored = service.corrections.all()
    assert [(c.interaction_id, c.routed, c.correct, c.user_id) for c in stored] == [
        (answer.interaction_id, routed, "security", "bob")]
    model = await service.router.wait_for_refit()
    assert model is not None and model.info.corrections == 1
    accuracy = service.corrections.accuracy()
    assert accuracy["n"] == 1 and accuracy["correct"] == int(routed == "security")
    assert accuracy["per_agent"]["security"]["n"] == 1
    # the same operator changes their mind: one label per answer and operator, the newest wins
    await engine.handle(ChatMessage(room_id=room.room_id, sender="bob", body=f"!route {routed}",
                                    transport="local", reply_to=reply_event))
    assert len(service.corrections.all()) == 1 and service.corrections.accuracy()["correct"] == 1
    await service.router.wait_for_refit()
    overview = service.overview_data()
    assert overview["accuracy"]["n"] == 1 and overview["routing_log"][0]["corrected_to"] == routed


async def test_route_errors_are_one_clear_line(engine: Engine) -> None:
    room = LocalRoom(engine)
    nothing = await room.post("alice", "!route security")
    assert "No answer to correct" in nothing.replies[0].body
    await room.post("alice", "how do i roll back the last deploy", to_bot=True)
    wrong = await room.post("alice", "!route securty")
    body = wrong.replies[0].body
    assert "'securty' is not an agent" in body and "incident, security, code_review, deployment, general" in body
    explained = await room.post("alice", "!route")
    assert "went to **deployment**" in explained.replies[0].body and "Scores:" in explained.replies[0].body


async def test_collaboration_details_contributions_consensus_and_a_judged_synthesis(engine: Engine) -> None:
    answer = await engine.ask("checkout started throwing 500s right after the 14:00 deploy, roll back or debug?")
    details = answer.details
    assert details["routing"]["agents"] == details["agents"] and set(details["agents"]) == {"incident", "deployment"}
    assert [c["agent"] for c in details["contributions"]] == details["agents"]
    for contribution in details["contributions"]:
        assert all(contribution["sections"][name] for name in ("PLAN", "ANSWER", "VERIFY", "TL;DR"))
        assert 0 < contribution["quality"] <= 1 and contribution["verdict"]["criteria"]
    assert details["contributions"][0]["sources"] != details["contributions"][1]["sources"]  # own knowledge focus
    consensus = details["consensus"]
    assert set(consensus) >= {"agreed", "single", "conflicts", "agreement"}
    assert 0.0 <= consensus["agreement"] <= 1.0
    for name in ("PLAN", "ANSWER", "VERIFY", "TL;DR"):
        assert answer.sections[name]
    assert "— _incident only_" in answer.sections["ANSWER"] or "_incident + deployment_" in answer.sections["ANSWER"]
    assert answer.markdown.startswith("**Consensus**") and answer.markdown.count("<details>") == 2
    assert answer.verdict.score > 0 and [s["step"] for s in answer.loop_steps][-3:] == [
        "collaborate", "consensus", "judge"]
    stored = engine.interactions.get(answer.interaction_id or 0)
    assert stored is not None and stored.details["consensus"]["agreement"] == consensus["agreement"]


async def test_collab_command_answers_with_several_agents_and_links_the_reply(engine: Engine) -> None:
    room = LocalRoom(engine)
    result = await room.post("alice", "!collab the canary shows memory growth, promote or abort")
    reply = result.replies[0]
    assert result.message is not None
    assert reply.body.startswith("**Consensus**") and reply.thread_id == result.message.event_id
    row = engine.store.query_one("SELECT details, reply_message_id FROM interactions ORDER BY id DESC LIMIT 1")
    assert row is not None and row["reply_message_id"] == reply.message_id
    assert json.loads(row["details"])["routing"]["decided_by"] == "operator (!collab)"
    empty = await room.post("alice", "!collab")
    assert "Give the question" in empty.replies[0].body


def run_cli(*args: str, data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hololoom_core.cli", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, input=stdin, timeout=180,
                          cwd=Path(__file__).resolve().parents[2])


def test_route_cli_json_and_file_jsonl(tmp_path: Path) -> None:
    single = run_cli("route", "is CVE-2024-3094 in our base images", "--json", data_dir=tmp_path)
    assert single.returncode == 0, single.stderr
    data = json.loads(single.stdout)
    assert data["agent"] == "security" and set(data) >= {"agent", "confidence", "scores", "runner_up", "margin",
                                                          "reason", "agents"}
    assert len(data["scores"]) == 5 and list(tmp_path.glob("agents/router-*.joblib"))
    questions = tmp_path / "questions.txt"
    questions.write_text("rollback the deploy pls\n\nwhat does p99 mean\n", encoding="utf-8")
    lines = run_cli("route", "--file", str(questions), "--json", data_dir=tmp_path)
    assert lines.returncode == 0, lines.stderr
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [row["agent"] for row in rows] == ["deployment", "general"]
    missing = run_cli("route", "--file", str(tmp_path / "nope.txt"), data_dir=tmp_path)
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    empty = run_cli("route", "  ", data_dir=tmp_path)
    assert empty.returncode == 2 and "question is empty" in empty.stderr
