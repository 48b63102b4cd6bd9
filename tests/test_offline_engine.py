"""The offline answer engine: structure, grounding in runbooks and history, honesty."""

from __future__ import annotations

import pytest

from hololoom_core.answers.ultraprompt import SECTIONS, parse_sections
from hololoom_core.engine import Engine
from hololoom_core.llm.runbooks import RunbookLibrary
from hololoom_core.models import ChatMessage

SITUATIONS = {
    "http-5xx": "checkout-api returns HTTP 500 internal server errors",
    "latency-spike": "p99 latency spiked to 3 seconds on the search endpoint",
    "db-connection-pool-exhaustion": "connection pool exhausted, requests wait for a database connection",
    "disk-full": "no space left on device on web-03.prod",
    "memory-leak-oom": "pods get OOMKilled every few hours, memory keeps growing",
    "cpu-saturation": "CPU is pegged at 100% on the api hosts",
    "certificate-expiry": "the TLS certificate for api.example.com expired",
    "dns-failure": "DNS resolution fails with NXDOMAIN for internal names",
    "failed-deploy-rollback": "the deploy failed, how do we roll back the release?",
    "queue-backlog": "the queue backlog keeps growing and consumers lag",
    "login-auth-failures": "users cannot log in, lots of 401 unauthorized",
    "rate-limiting": "clients get 429 too many requests",
    "leaked-credentials": "an AWS access key was leaked in a public repo",
    "cache-stampede": "cache stampede: keys expired and the database got hammered",
    "replication-lag": "replication lag on the postgres replica is 40 seconds",
}


@pytest.fixture(scope="module")
def library() -> RunbookLibrary:
    return RunbookLibrary.from_directory()


def test_at_least_fifteen_runbooks_ship(library: RunbookLibrary) -> None:
    assert len(library) >= 15
    assert set(SITUATIONS) <= set(library.runbooks)


@pytest.mark.parametrize(("runbook_id", "question"), sorted(SITUATIONS.items()))
def test_each_situation_matches_its_runbook_first(library: RunbookLibrary, runbook_id: str, question: str) -> None:
    matches = library.search(question)
    assert matches, question
    assert matches[0].runbook.id == runbook_id


@pytest.mark.parametrize("question", ["how do I bake sourdough bread?", "lunch plans?", "what is the meaning of life"])
def test_unrelated_questions_match_no_runbook(library: RunbookLibrary, question: str) -> None:
    assert library.search(question) == []


async def test_answer_has_four_sections_cites_runbook_and_says_it_is_offline(engine: Engine) -> None:
    answer = await engine.ask("The production API is returning 500 errors")
    assert [name for name in SECTIONS if answer.sections[name].strip()] == list(SECTIONS)
    assert answer.provider == "offline" and answer.grounded
    assert answer.sources[0].kind == "runbook" and answer.sources[0].ref == "http-5xx"
    assert "`http-5xx`" in answer.markdown
    assert "not a language model" in answer.markdown
    assert parse_sections(answer.markdown) == answer.sections


async def test_answer_cites_similar_earlier_messages_with_time_room_and_author(engine: Engine) -> None:
    await engine.handle(
        ChatMessage(room_id="#payments", sender="marco", sender_name="Marco Silva", ts=1_764_072_000.0,
                    body="replica db-02 replication lag hit 90s after the vacuum job; we paused the batch import")
    )
    await engine.handle(ChatMessage(room_id="#payments", sender="ana", body="anyone for coffee?"))
    answer = await engine.ask("why is replication lag so high on db-02?")
    messages = [s for s in answer.sources if s.kind == "message"]
    assert len(messages) == 1 and messages[0].author == "Marco Silva"
    assert "2025-11-25 12:00 UTC · #payments · Marco Silva" in answer.sections["ANSWER"]
    assert "coffee" not in answer.markdown


async def test_history_alone_grounds_an_answer_when_no_runbook_fits(engine: Engine) -> None:
    await engine.handle(ChatMessage(room_id="#ops", sender="lee", body="the nightly invoice export to the finance sftp failed again, Lee reran it by hand"))
    answer = await engine.ask("did the invoice export to finance sftp fail?")
    assert not [s for s in answer.sources if s.kind == "runbook"]
    assert "No runbook covers this" in answer.sections["ANSWER"]
    assert "invoice export" in answer.sections["ANSWER"]


async def test_ungrounded_question_gets_an_honest_answer_with_what_to_check(engine: Engine) -> None:
    answer = await engine.ask("what should the quarterly roadmap for the mobile team be?")
    assert answer.sources == [] and not answer.grounded
    assert "can't ground an answer" in answer.sections["ANSWER"]
    assert "What I would check" in answer.sections["ANSWER"]
    assert all(answer.sections[name].strip() for name in SECTIONS)
    assert answer.verdict.score < 0.8
    grounded = await engine.ask("disk full on web-03.prod, no space left on device")
    assert grounded.verdict.score > answer.verdict.score


async def test_focus_names_the_service_from_the_question(engine: Engine) -> None:
    answer = await engine.ask("orders-api is throwing 502 bad gateway")
    assert "service `orders-api`" in answer.sections["ANSWER"]
    assert "HTTP `502`" in answer.sections["PLAN"]
