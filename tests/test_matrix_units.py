"""Matrix transport parts that need no homeserver: addressing, rendering, splitting, backoff, access, config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hololoom_core.config import AclConfig, Config, ConfigError, MatrixConfig, load_config
from hololoom_core.engine.access import AccessPolicy
from hololoom_core.transport.matrix.addressing import AddressingPolicy, relation_of, strip_reply_fallback
from hololoom_core.transport.matrix.media import decode_text, file_kind
from hololoom_core.transport.matrix.render import (
    Placement,
    markdown_to_html,
    message_content,
    place_reply,
    split_markdown,
)
from hololoom_core.transport.matrix.sync import Backoff, sync_filter

BOT = "@hololoom:example.org"


def policy(**overrides: object) -> AddressingPolicy:
    values: dict[str, Any] = {"bot_user_id": BOT, "display_name": "HoloLoom", "admins": ["@root:example.org"]}
    values.update(overrides)
    return AddressingPolicy(**values)


@pytest.mark.parametrize(
    ("content", "body", "expected"),
    [
        ({"m.mentions": {"user_ids": [BOT]}}, "what now?", True),
        ({"m.mentions": {"user_ids": ["@alice:example.org"]}}, "what now?", False),
        ({"formatted_body": '<a href="https://matrix.to/#/%40hololoom%3Aexample.org">HL</a> hi'}, "HL hi", True),
        ({}, "HoloLoom: is the db ok?", True),
        ({}, "hololoom-ctl is broken", False),
        ({}, "ping @hololoom:example.org please", True),
        ({}, "the loom is holo", False),
    ],
)
def test_mentions(content: dict[str, object], body: str, expected: bool) -> None:
    assert policy().mentions_bot(content, body) is expected


def test_relations_and_reply_fallback() -> None:
    thread = relation_of({"m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                                           "m.in_reply_to": {"event_id": "$last"}}})
    assert (thread.thread_id, thread.reply_to) == ("$root", None)
    reply_in_thread = relation_of({"m.relates_to": {"rel_type": "m.thread", "event_id": "$root",
                                                    "m.in_reply_to": {"event_id": "$q"}}})
    assert (reply_in_thread.thread_id, reply_in_thread.reply_to) == ("$root", "$q")
    edit = relation_of({"m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}})
    assert (edit.rel_type, edit.target) == ("m.replace", "$orig")
    assert strip_reply_fallback("> <@a:x> old\n> more\n\n!ping") == "!ping"
    assert strip_reply_fallback("no quote") == "no quote"


def test_invites_and_rooms() -> None:
    p = policy(auto_join_users=["@*:trusted.org"], auto_join_servers=["corp.example"], allowed_rooms={"!ops:x"})
    assert p.invite_allowed("@root:example.org", "!ops:x")
    assert p.invite_allowed("@bob:trusted.org", "!ops:x")
    assert p.invite_allowed("@carol:corp.example", "!ops:x")
    assert not p.invite_allowed("@mallory:evil.org", "!ops:x")
    assert not p.invite_allowed("@root:example.org", "!elsewhere:x")
    assert policy().room_allowed("!any:x")


def test_html_is_sanitised() -> None:
    html = markdown_to_html("**bold** <script>alert(1)</script> [x](javascript:alert(1)) `code`")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert "<script" not in html and "&lt;script&gt;" in html and "href=\"javascript" not in html
    table = markdown_to_html("| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<table>" in table


def test_split_respects_limit_and_fences() -> None:
    text = "\n\n".join(f"paragraph {n} " + "word " * 40 for n in range(30))
    parts = split_markdown(text, 1000)
    assert len(parts) > 1 and all(len(part) <= 1000 for part in parts)
    assert " ".join(parts).split() == text.split()
    code = "```\n" + "\n".join(f"line {n}" for n in range(400)) + "\n```"
    code_parts = split_markdown(code, 600)
    assert all(part.startswith("```") and part.endswith("```") and len(part) <= 600 for part in code_parts)
    assert split_markdown("short", 600) == ["short"]


def test_reply_placement() -> None:
    long_answer = "x" * 700
    in_thread = place_reply(kind="answer", body="short", thread_id="$root", in_reply_to="$q",
                            question_thread_id="$root", policy="never", long_answer_chars=600)
    assert in_thread == Placement("$root", "$q")
    new_thread = place_reply(kind="answer", body=long_answer, thread_id="$q", in_reply_to="$q",
                             question_thread_id=None, policy="long", long_answer_chars=600)
    assert new_thread == Placement("$q", "$q")
    short = place_reply(kind="answer", body="short", thread_id="$q", in_reply_to="$q",
                        question_thread_id=None, policy="long", long_answer_chars=600)
    assert short == Placement(None, "$q")
    command = place_reply(kind="command", body="pong", thread_id=None, in_reply_to="$c",
                          question_thread_id=None, policy="always", long_answer_chars=600)
    assert command == Placement(None, "$c")
    content = message_content("**hi**", placement=Placement("$root", "$q"))
    assert content["m.relates_to"]["rel_type"] == "m.thread"
    assert content["m.relates_to"]["m.in_reply_to"] == {"event_id": "$q"}
    assert content["m.relates_to"]["is_falling_back"] is False
    assert content["format"] == "org.matrix.custom.html" and content["body"] == "**hi**"


def test_backoff_grows_caps_and_jitters() -> None:
    backoff = Backoff(1.0, 8.0, rng=lambda: 1.0)
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    low = Backoff(1.0, 8.0, rng=lambda: 0.0)
    assert [low.next() for _ in range(3)] == [0.5, 1.0, 2.0]
    backoff.reset()
    assert backoff.next() == 1.0
    assert sync_filter(BOT)["room"]["timeline"]["not_senders"] == [BOT]


def test_access_private_group_and_subcommands() -> None:
    acl = AclConfig.model_validate({
        "commands": {
            "secret*": {"allow_group": False},
            "broadcast": {"allow_private": False},
            "incident": {"deny_users": ["@intern:*"]},
            "incident list": {"allow_users": ["*"]},
        }
    })
    access = AccessPolicy(acl, ["@root:example.org"])
    assert not access.check("secrets show", "@a:x", "!room", is_direct=False).allowed
    assert access.check("secrets show", "@a:x", "!dm", is_direct=True).allowed
    assert not access.check("broadcast", "@root:example.org", "!dm", is_direct=True).allowed
    assert not access.check("incident resolve", "@intern:x", "!room").allowed
    assert access.check("incident list", "@intern:x", "!room").allowed
    access.is_direct_room = lambda room_id: room_id == "!dm"
    assert access.check("secrets show", "@a:x", "!dm").allowed
    assert not access.check("secrets show", "@a:x", "!room").allowed


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        MatrixConfig(reactions={"👍": 2})
    with pytest.raises(ValueError):
        MatrixConfig(backoff_initial_s=10, backoff_max_s=1)
    path = tmp_path / "bad.yaml"
    path.write_text("matrix:\n  answer_threads: sometimes\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert "answer_threads" in str(error.value) and "\n" not in str(error.value)
    assert Config().matrix.reactions["👍"] == 1


def test_file_kinds_and_text_decoding() -> None:
    assert file_kind("app.log", "text/plain") == "log"
    assert file_kind("fix.patch", "application/octet-stream") == "diff"
    assert file_kind("main.py", "text/x-python") == "code"
    assert file_kind("notes.txt", "text/plain") == "text"
    assert file_kind("photo.jpg", "image/jpeg") == "image"
    assert file_kind("core", "application/octet-stream") == "binary"
    assert decode_text(b"\x00\x01binary") is None
    assert decode_text("héllo".encode()) == "héllo"
