"""Tracked items: decisions and their reversals, questions and their answers, action items and completion."""

from __future__ import annotations

from hololoom_core.engine import Engine
from hololoom_core.memory.graph import item_key
from hololoom_core.memory.service import MemoryService
from tests.memory.conftest import say, stored_id


async def test_a_later_decision_reverses_an_earlier_one(engine: Engine) -> None:
    memory = engine.capability(MemoryService)
    first = await say(engine, "priya", "We decided to roll back the checkout-api config change tonight.")
    other = await say(engine, "priya", "Decision: weekly release train for the mobile app.")
    second = await say(engine, "bob", "Change of plan: we won't roll back the checkout-api config change, "
                                       "we fix forward instead.")
    decisions = {item.message_id: item for item in memory.items.list("decision", room_id="#ops")}
    old, kept, new = (decisions[stored_id(r)] for r in (first, other, second))
    assert old.status == "reversed" and old.superseded_by == new.id
    assert kept.status == "active" and new.status == "active"
    reversal = next(i for i in second.insights if i.kind == "decision")
    assert reversal.data["supersedes"] == old.id
    edges = memory.graph.edges(item_key("decision", new.id))
    assert any(e["relation"] == "supersedes" and e["dst"] == item_key("decision", old.id)
               and e["message_id"] == stored_id(second) for e in edges)
    node = memory.graph.node(item_key("decision", old.id))
    assert node is not None and node["data"]["status"] == "reversed"
    status = engine.store.scalar("SELECT status FROM insights WHERE id = ?", (old.insight_id,))
    assert status == "reversed"
    text = (await say(engine, "alice", "!decisions")).replies[0].body
    assert f"reversed by #{new.id}" in text and "weekly release train" in text


async def test_unrelated_later_decision_reverses_nothing(engine: Engine) -> None:
    memory = engine.capability(MemoryService)
    await say(engine, "priya", "We decided to freeze deploys for the payments-api until Monday.")
    await say(engine, "bob", "We decided to use postgres 16 for the analytics cluster instead.")
    assert [i.status for i in memory.items.list("decision", room_id="#ops")] == ["active", "active"]


async def test_questions_get_answered_in_thread_and_nearby(engine: Engine) -> None:
    memory = engine.capability(MemoryService)
    asked = await say(engine, "alice", "Why is the nightly backup job so slow on db-02.prod?")
    other = await say(engine, "bob", "Who owns the billing-worker these days?")
    reply = await say(engine, "marco", "The backup job is slow because the nightly vacuum runs at the same time.")
    answered = {i.message_id: i for i in memory.items.list("question", room_id="#ops")}
    assert answered[stored_id(asked)].status == "answered"
    assert answered[stored_id(asked)].status_message_id == stored_id(reply)
    assert answered[stored_id(other)].status == "open"
    assert any(i.kind == "answer" and i.data["question_id"] == answered[stored_id(asked)].id for i in reply.insights)
    threaded = await say(engine, "dana", "Is the canary healthy?", thread="t-canary")
    await say(engine, "erin", "yes, all green", thread="t-canary")
    item = next(i for i in memory.items.list("question", room_id="#ops") if i.message_id == stored_id(threaded))
    assert item.status == "answered"
    listing = (await say(engine, "alice", "!questions")).replies[0].body
    assert "billing-worker" in listing and "backup job" not in listing


async def test_action_items_with_owner_due_and_completion(engine: Engine) -> None:
    memory = engine.capability(MemoryService)
    first = await say(engine, "priya", "Action item: @bob to write the postmortem for INC-4821 by Friday")
    await say(engine, "alice", "I'll rotate the leaked vault token")
    actions = memory.items.list("action_item", room_id="#ops")
    by_owner = {item.owner: item for item in actions}
    assert set(by_owner) == {"bob", "alice"}
    assert by_owner["bob"].due is not None and by_owner["bob"].message_id == stored_id(first)
    done = await say(engine, "bob", "postmortem for INC-4821 is written and done")
    bobs = memory.items.get(by_owner["bob"].id)
    assert bobs is not None and bobs.status == "done"
    assert any(i.kind == "action_done" for i in done.insights)
    listing = (await say(engine, "priya", "!actions")).replies[0].body
    assert "vault token" in listing and "postmortem" not in listing
    mine = (await say(engine, "priya", "!actions @alice")).replies[0].body
    assert "vault token" in mine
    closed = (await say(engine, "alice", f"!actions done {by_owner['alice'].id}")).replies[0].body
    alices = memory.items.get(by_owner["alice"].id)
    assert "marked done" in closed and alices is not None and alices.status == "done"
    assert "No open action items" in (await say(engine, "priya", "!actions")).replies[0].body


async def test_summary_links_to_messages(engine: Engine) -> None:
    await say(engine, "alice", "checkout-api 5xx ratio at 12% after the config change", thread="inc")
    await say(engine, "bob", "pool_size dropped from 20 to 5 in the checkout-api config", thread="inc")
    decided = await say(engine, "priya", "We decided to roll back the checkout-api config change now", thread="inc")
    await say(engine, "alice", "lol", thread="inc")
    text = (await say(engine, "priya", "!summary inc")).replies[0].body
    assert text.startswith("**Summary of thread inc**")
    assert f"msg #{stored_id(decided)}" in text and "[decision]" in text
    assert "lol" not in text
