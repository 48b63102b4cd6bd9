"""No secret is ever stored or shown: one of every kind, through every channel, then every table, file and output.

Channels: chat messages, commands' arguments and the replies that echo them (`!incident declare`, `!recall`,
`!help`), questions to the bot, incident notes and root causes (timeline, postmortem, `incident show/list
--json`, `postmortem -o FILE`), workflow variables (`!kickoff`), uploads, ingest, and the CLI's `say`,
`ask`, `recall` and `detect` with `--json`. Then every table (from sqlite_master), the raw database file,
its WAL, every output and the exported file are scanned: 0 hits.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from hololoom_core.cli.main import main as cli_main
from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.models import Attachment, ChatMessage
from hololoom_core.redact import SECRET_KINDS, redact_secrets
from tests.secret_kit import all_values, hits_in_text, make_secrets, scan_database


def _config(data_dir: Path) -> Config:
    return Config.model_validate({"hololoom": {"data_dir": str(data_dir)}, "store": {"synchronous": "normal"}})


def test_every_planted_kind_is_redacted_and_redaction_is_idempotent() -> None:
    for item in make_secrets():
        result = redact_secrets(f"before {item.text} after")
        assert hits_in_text(result.text, list(item.values)) == [], (item.kind, result.text)
        assert result.kinds, item.kind
        assert result.text.startswith("before ") and result.text.endswith(" after"), (item.kind, result.text)
        assert redact_secrets(result.text).text == result.text, item.kind
    assert {"aws-access-key", "aws-secret-key", "github-token", "gitlab-token", "slack-token", "stripe-key",
            "openai-key", "anthropic-key", "google-api-key", "jwt", "private-key", "url-password",
            "password"} <= set(SECRET_KINDS)


def test_ordinary_chat_is_left_alone() -> None:
    for text in ("the password is in the vault", "max_tokens=2048 and token_count: 12", "deploy checkout-api",
                 "the token expired at 10:00", "commit 3f9a2c1d is on prod-3.internal", "sk-learn is great"):
        assert redact_secrets(text).text == text


async def _chat_channels(data_dir: Path, texts: list[str], values: list[str], outputs: list[str]) -> None:
    """Every in-chat channel, through `Engine.handle`; the database and WAL are scanned before closing."""
    engine = Engine(_config(data_dir))
    await engine.start()
    try:
        async def say(body: str, *, sender: str = "alice", **extra: object) -> None:
            result = await engine.handle(ChatMessage(room_id="#ops", sender=sender, body=body, **extra))  # type: ignore[arg-type]
            outputs.extend(reply.body for reply in result.replies)

        for text in texts:  # plain chat
            await say(f"heads up: {text}")
        declared = await engine.handle(ChatMessage(room_id="#ops", sender="alice",
                                                   body=f"!incident declare creds leaked {texts[0]} sev2"))
        outputs.extend(reply.body for reply in declared.replies)
        thread = declared.replies[0].thread_id
        for text in texts:  # commands whose replies echo their arguments, incident notes, questions
            await say(f"!incident note found {text}", thread_id=thread)
            await say(f"!recall {text.splitlines()[0]}")
            await say(f"!help {text.splitlines()[0]}")
            await say(f"@hololoom why does {text} fail?")
        await say(f"!incident status conditions: {texts[1]}; actions: rotating {texts[7]}; needs: a DBA",
                  thread_id=thread)
        await say(f"!incident resolve root cause: {texts[2]} was committed", thread_id=thread)
        await say(f"!kickoff \"creds leaked {texts[0]} {texts[8]}\" sev1", sender="priya")
        await say("!review", attachments=[Attachment("creds.env", "text/plain", 100, text="\n".join(texts))])
        await say("see the file", attachments=[Attachment("notes.txt", "text/plain", 100, text="\n".join(texts))])
        await say(f"!review\n```\n{texts[1]}\n{texts[9]}\n```")
        during = scan_database(engine.config.database_path, values)  # the WAL holds the recent pages now
        assert during == {}, during
    finally:
        await engine.close()


def test_no_secret_survives_any_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = make_secrets()
    values = all_values(planted)
    texts = [item.text for item in planted]
    data_dir = tmp_path / "data"
    outputs: list[str] = []
    asyncio.run(_chat_channels(data_dir, texts, values, outputs))

    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps({"room_id": "#import", "sender": "bob", "ts": 1_764_072_000 + i,
                                          "body": f"imported {text}"}) + "\n" for i, text in enumerate(texts)),
                      encoding="utf-8")
    common = ["--data-dir", str(data_dir)]
    postmortem = tmp_path / "postmortem.md"
    commands = [
        ["ingest", str(export), "--json", "--no-embed"],
        *[["say", f"cli {text}", "--json"] for text in texts],
        *[["ask", f"is {text} valid?", "--json"] for text in texts[:6]],
        *[["recall", text.splitlines()[0], "--json"] for text in texts[:6]],
        ["detect", texts[0], "--json"],
        ["incident", "list", "--json"],
        ["incident", "show", "INC-1", "--json"],
        ["incident", "timeline", "INC-1", "--json"],
        ["incident", "postmortem", "INC-1", "--regenerate", "-o", str(postmortem)],
        ["incident", "postmortem", "INC-1"],
        ["workflow", "runs", "--json"],
    ]
    for command in commands:
        code = cli_main([*common, *command])
        captured = capsys.readouterr()
        assert code in (0, 1), (command, captured.err)
        outputs += [captured.out, captured.err]

    leaks = {f"output {i}": hits_in_text(text, values) for i, text in enumerate(outputs)}
    leaks = {where: hits for where, hits in leaks.items() if hits}
    assert leaks == {}, leaks
    assert postmortem.exists() and hits_in_text(postmortem.read_text(encoding="utf-8"), values) == []
    assert stat.S_IMODE(os.stat(postmortem).st_mode) == 0o600
    database = scan_database(_config(data_dir).database_path, values)
    assert database == {}, database
    for file in data_dir.rglob("*"):  # every other file HoloLoom wrote (vector indexes, state)
        if file.is_file():
            assert hits_in_text(file.read_bytes().decode("utf-8", "replace"), values) == [], file
