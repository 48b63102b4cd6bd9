"""Property-based tests: random text, bytes, markup and commands through the real pipeline (a SQLite file).

For every input: `Engine.handle` raises nothing and no reply is an internal-error apology; the stored
body equals `redact_secrets(input)` (with lone surrogates as U+FFFD); a planted secret survives neither
in the store nor in any reply. The redactor itself is idempotent on any text.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.models import ChatMessage
from hololoom_core.redact import redact_secrets
from hololoom_core.text.clean import clean_text
from tests.secret_kit import PlantedSecret, make_secrets

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
PLANTED = make_secrets()

any_text = st.text(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=300)  # lone surrogates too
undecodable = st.binary(max_size=200).map(lambda data: data.decode("utf-8", "surrogateescape"))
markup = st.lists(st.sampled_from(["[bold]", "[/]", "[/bold]", "[link=x]", "**", "_", "`", "```", "<b>", "</b>",
                                   "<script>", "&amp;", "\\", "\n", "@hololoom", "#ops[/]", "${x}", "{{ t }}",
                                   "%s", "\x00", "\u202e", "\ufeff"]), max_size=20).map("".join)
commands = st.tuples(
    st.sampled_from(["help", "recall", "incident", "incident declare", "incident note", "review", "status",
                     "workflow", "kickoff", "decisions", "summary", "cache", "experiment", "nope"]),
    any_text | markup,
).map(lambda parts: f"!{parts[0]} {parts[1]}")
messages = st.one_of(any_text, undecodable, markup, commands, any_text.map(lambda text: f"@hololoom {text}"))
secrets_or_none = st.none() | st.sampled_from(PLANTED)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop) -> Iterator[Engine]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    config = Config.model_validate({"hololoom": {"data_dir": str(data_dir)}, "store": {"synchronous": "normal"}})
    engine = Engine(config)
    loop.run_until_complete(engine.start())
    yield engine
    loop.run_until_complete(engine.close())


_counter = itertools.count()


def _plant(text: str, secret: PlantedSecret | None, where: int) -> str:
    if secret is None:
        return text
    cut = min(where, len(text))
    return f"{text[:cut]} {secret.text} {text[cut:]}"


@SETTINGS
@given(text=messages, secret=secrets_or_none, where=st.integers(0, 300))
def test_random_messages_through_the_pipeline(engine: Engine, loop: asyncio.AbstractEventLoop, text: str,
                                              secret: PlantedSecret | None, where: int) -> None:
    body = _plant(text, secret, where)
    room = f"#fuzz{next(_counter) % 3}"
    result = loop.run_until_complete(engine.handle(ChatMessage(room_id=room, sender="fuzzer", body=body)))
    assert result.message is not None
    stored = engine.messages.get(result.message.id)
    assert stored is not None
    assert stored.body == redact_secrets(clean_text(body)).text
    for reply in result.replies:
        assert "failed inside HoloLoom" not in reply.body, reply.body
    if secret is not None:
        replies = "\n".join(reply.body for reply in result.replies)
        for value in secret.values:
            assert value not in stored.body and value not in replies, (secret.kind, value)


@settings(max_examples=400, deadline=None)
@given(before=any_text | undecodable | markup, after=any_text | markup, secret=st.sampled_from(PLANTED))
def test_redaction_removes_planted_secrets_and_is_idempotent(before: str, after: str,
                                                             secret: PlantedSecret) -> None:
    result = redact_secrets(f"{before} {secret.text} {after}")
    for value in secret.values:
        assert value not in result.text, (secret.kind, result.text)
    assert redact_secrets(result.text).text == result.text
    result.text.encode("utf-8")  # always storable
