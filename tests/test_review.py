"""Code review: bandit, ruff and detect-secrets on sample files with known problems, diffs and the chat command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hololoom_core.cli.main import main as cli_main
from hololoom_core.config import Config, ReviewConfig
from hololoom_core.engine import Engine
from hololoom_core.llm.base import AnswerRequest, ProviderStatus
from hololoom_core.models import Attachment, ChatMessage
from hololoom_core.ops.review.diff import parse_unified_diff
from hololoom_core.ops.review.inputs import guess_language, items_from_attachments, items_from_text
from hololoom_core.ops.review.models import ReviewItem
from hololoom_core.ops.review.service import CodeReviewer
from hololoom_core.transport.local import LocalRoom
from hololoom_core.transport.scenarios import load_scenario

SAMPLES = Path(__file__).parent / "review_samples"


def sample(name: str) -> ReviewItem:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    return ReviewItem(name, text, guess_language(text, name))


async def review(*names: str, config: ReviewConfig | None = None):
    return await CodeReviewer(config or ReviewConfig()).review([sample(name) for name in names])


def rules(report) -> set[tuple[str, int]]:
    return {(finding.rule, finding.line) for finding in report.findings}


async def test_shell_injection_is_high() -> None:
    report = await review("shell_injection.py")
    [finding] = [f for f in report.findings if f.rule == "B602"]
    assert (finding.severity, finding.line, finding.path) == ("high", 8, "shell_injection.py")
    assert "shell=True" in finding.hint


async def test_eval_is_found() -> None:
    report = await review("eval_input.py")
    assert ("B307", 6) in rules(report)
    assert "literal_eval" in next(f.hint for f in report.findings if f.rule == "B307")


async def test_hardcoded_password_found_and_masked() -> None:
    report = await review("hardcoded_password.py")
    found = rules(report)
    assert ("B105", 8) in found
    assert ("secret-keyword", 8) in found
    assert next(f for f in report.findings if f.tool == "detect-secrets").severity == "critical"
    text = json.dumps(report.as_dict(), ensure_ascii=False)
    assert "Winter2024!reporting" not in text
    assert "Wint…(20 chars)" in text


async def test_sql_by_string_formatting_is_found() -> None:
    report = await review("sql_format.py")
    assert ("B608", 8) in rules(report)


async def test_aws_key_in_another_language_is_found_and_masked() -> None:
    report = await review("deploy_config.js")
    assert report.tools == ["detect-secrets"]
    [finding] = report.findings
    assert (finding.rule, finding.line, finding.severity) == ("aws-access-key", 5, "critical")
    assert "AKIAQ3EGPRWM5XNYTL7Z" not in json.dumps(report.as_dict())
    assert any("secrets only" in note for note in report.notes)


async def test_clean_code_has_no_finding() -> None:
    report = await review("clean.py")
    assert report.findings == []
    assert report.tools == ["bandit", "ruff", "detect-secrets"]
    assert report.notes == []


async def test_diff_is_reviewed_on_changed_lines_only() -> None:
    report = await review("change.diff")
    assert report.files == ["app/users.py"]
    assert report.changed_lines_only and report.lines_reviewed == 3
    assert ("B608", 14) in rules(report)
    assert ("B307", 15) in rules(report)
    # The eval on line 20 is a context line, not part of the change.
    assert all(finding.line in {14, 15, 16} for finding in report.findings)


async def test_new_file_diff_maps_lines_and_ignores_context_only_rules() -> None:
    diff = (
        "--- /dev/null\n+++ b/tools/run.py\n@@ -0,0 +1,5 @@\n+import os\n+\n+\n+def run(cmd):\n"
        "+    os.system(cmd)\n"
    )
    report = await CodeReviewer(ReviewConfig()).review([ReviewItem("pr.diff", diff, "diff")])
    assert ("B605", 5) in rules(report)
    assert report.files == ["tools/run.py"]


def test_unified_diff_parser_tracks_new_line_numbers() -> None:
    [diff_file] = parse_unified_diff((SAMPLES / "change.diff").read_text())
    assert diff_file.path == "app/users.py"
    assert diff_file.added == {14, 15, 16}
    new_side = diff_file.new_text().splitlines()
    assert new_side[13].strip().startswith("query =")
    assert new_side[19].strip() == 'return int(eval("self.cached_total"))'


def test_inputs_from_fences_snippets_and_attachments() -> None:
    body = "!review\n```py\nx = eval(y)\n```\nand\n```diff\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-a\n+b\n```"
    items = items_from_text(body, body.split(" ", 1)[-1], 100_000)
    assert [(i.name, i.language) for i in items] == [("snippet.py", "python"), ("snippet-2.diff", "diff")]
    [item] = items_from_text("!review import os", "import os", 100_000)
    assert item.language == "python"
    assert items_from_text("!review https://x.example/pull/1", "https://x.example/pull/1", 100_000) == []
    files, skipped = items_from_attachments(
        [Attachment("deploy.py", "text/x-python", 10, text="eval(x)\n"), {"name": "shot.png", "mimetype": "image/png"}],
        100_000,
    )
    assert [(f.name, f.language) for f in files] == [("deploy.py", "python")]
    assert skipped == ["shot.png"]


class ScriptedModel:
    """A stand-in language model (no model server can run here): returns a fixed ultraprompt answer."""

    name = "scripted-llm"
    is_language_model = True

    def __init__(self) -> None:
        self.requests: list[AnswerRequest] = []

    async def answer(self, request: AnswerRequest, on_delta=None) -> str:
        self.requests.append(request)
        return "### PLAN\nread\n### ANSWER\nFix the shell injection before merging.\n### VERIFY\nok\n**TL;DR:** fix it"

    async def status(self) -> ProviderStatus:
        return ProviderStatus(self.name, True, "scripted")


async def test_language_model_summary_on_top_without_leaking_secrets() -> None:
    model = ScriptedModel()
    reviewer = CodeReviewer(ReviewConfig(), model)
    report = await reviewer.review([sample("shell_injection.py"), sample("hardcoded_password.py")])
    assert report.summary == "Fix the shell injection before merging."
    assert report.summary_provider == "scripted-llm"
    [request] = model.requests
    sent = request.question + "".join(source.excerpt for source in request.sources)
    assert "B602" in sent and "Winter2024!reporting" not in sent


async def test_offline_engine_gives_no_summary(tmp_path: Path) -> None:
    engine = Engine(Config.model_validate({"hololoom": {"data_dir": str(tmp_path)}}))
    try:
        report = await engine.capability(CodeReviewer).review([sample("eval_input.py")])
        assert report.summary is None
    finally:
        await engine.close()


@pytest.fixture
async def engine(tmp_path: Path):
    engine = Engine(Config.model_validate({"hololoom": {"data_dir": str(tmp_path)}}))
    yield engine
    await engine.close()


async def test_review_command_through_the_pipeline(engine: Engine) -> None:
    room = LocalRoom(engine)
    code = (SAMPLES / "hardcoded_password.py").read_text() + (SAMPLES / "shell_injection.py").read_text()
    result = await room.post("alice", f"!review\n```python\n{code}```")
    [reply] = result.replies
    assert "**Critical**" in reply.body and "`B602`" in reply.body and "`snippet.py:8`" in reply.body
    stored = engine.store.query("SELECT body FROM messages")
    assert all("Winter2024!reporting" not in row["body"] for row in stored)


async def test_review_of_clean_code_says_so(engine: Engine) -> None:
    room = LocalRoom(engine)
    result = await room.post("alice", f"!review\n```python\n{(SAMPLES / 'clean.py').read_text()}```")
    assert "**no findings**" in result.replies[0].body


async def test_review_of_uploaded_file_text(engine: Engine) -> None:
    text = (SAMPLES / "sql_format.py").read_text()
    message = ChatMessage(
        room_id="#ops", sender="bob", body="!review",  # a file sent with `!review` as its caption
        attachments=[Attachment("users.py", "text/x-python", len(text), text=text)],
    )
    result = await engine.handle(message)
    assert "`users.py:8` `B608`" in result.replies[0].body
    assert result.message is not None
    stored = engine.messages.get(result.message.id)
    assert stored is not None and "text" not in stored.meta["attachments"][0]  # file text is indexed, not in meta


async def test_review_as_a_reply_to_an_uploaded_file(engine: Engine) -> None:
    text = (SAMPLES / "sql_format.py").read_text()
    upload = await engine.handle(ChatMessage(
        room_id="#ops", sender="bob", body="users.py",
        attachments=[Attachment("users.py", "text/x-python", len(text), text=text)],
    ))
    assert upload.replies == [] and upload.message is not None
    result = await engine.handle(ChatMessage(room_id="#ops", sender="alice", body="!review",
                                             reply_to=upload.message.event_id))
    assert "`users.py:8` `B608`" in result.replies[0].body


async def test_code_review_scenario_url_gets_one_clear_line(engine: Engine) -> None:
    command = "!review https://github.example.com/acme/payments/pull/812"
    result = await LocalRoom(engine, room_id="#payments-dev").post("sam", command)
    [reply] = result.replies
    assert "\n" not in reply.body
    assert reply.body.startswith("I can't fetch https://github.example.com/acme/payments/pull/812")


async def test_code_review_scenario_reviews_the_pasted_code(engine: Engine) -> None:
    scenario = load_scenario("code-review")
    command = next(m.text for m in scenario.messages if m.text.startswith("!review"))
    result = await LocalRoom(engine, room_id=scenario.room).post("sam", command)
    [reply] = result.replies
    assert reply.body.startswith("**Code review of `snippet.py`**") and "B602" in reply.body


async def test_empty_review_is_a_usage_line(engine: Engine) -> None:
    result = await LocalRoom(engine).post("alice", "!review")
    assert result.replies[0].body.startswith("Nothing to review")


def test_cli_review_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--data-dir", str(tmp_path)]
    assert cli_main([*common, "review", str(SAMPLES / "clean.py")]) == 0
    assert "no findings" in capsys.readouterr().out
    assert cli_main([*common, "review", str(SAMPLES / "deploy_config.js"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["critical"] == 1 and "AKIAQ3EGPRWM5XNYTL7Z" not in json.dumps(data)
    assert cli_main([*common, "review", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err
