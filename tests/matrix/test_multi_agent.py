"""Multi-agent in a real Synapse room: a collaborative answer in the thread, consensus first, contributions folded;
`!route AGENT` in reply to an answer stores a correction."""

from __future__ import annotations

import pytest

from hololoom_core.agents.service import MultiAgentService
from tests.matrix.botkit import Scene, scene_fixture  # noqa: F401  (the `scene` fixture)

pytestmark = pytest.mark.asyncio


async def test_collaborative_answer_goes_to_the_thread_with_consensus_first_and_folded_contributions(
        scene: Scene) -> None:
    question = await scene.human.say(
        scene.room_id, "hololoom: someone pasted the prod aws access key in chat and now the api is down, what do we do",
        mention=scene.bot_user.user_id)
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(question, scene.bot_user.user_id), 60)
    content = replies[0]["content"]
    assert content["m.relates_to"]["rel_type"] == "m.thread" and content["m.relates_to"]["event_id"] == question
    assert content["body"].startswith("**Consensus**")
    html = content["formatted_body"]
    assert html.index("Consensus") < html.index("<details>")
    assert html.count("<details><summary>") == 2  # security and incident, each folded
    assert "security — Security Analyst" in html and "incident — Incident Response Specialist" in html
    row = scene.bot.engine.store.query_one("SELECT details FROM interactions ORDER BY id DESC LIMIT 1")
    assert row is not None and '"consensus"' in row["details"] and '"contributions"' in row["details"]


async def test_route_in_reply_to_an_answer_stores_a_correction(scene: Scene) -> None:
    question = await scene.human.say(scene.room_id, "hololoom: what is an slo vs an sla",
                                     mention=scene.bot_user.user_id)
    replies = await scene.human.wait_for(lambda _: scene.human.replies_to(question, scene.bot_user.user_id), 60)
    answer_event = replies[0]["event_id"]
    command = await scene.human.say(scene.room_id, "!route incident", reply_to=answer_event)
    confirmations = await scene.human.wait_for(lambda _: scene.human.replies_to(command, scene.bot_user.user_id), 30)
    assert "belongs to **incident**" in confirmations[0]["content"]["body"]
    service = scene.bot.engine.capability(MultiAgentService)
    corrections = service.corrections.all()
    assert len(corrections) == 1 and corrections[0].correct == "incident" and corrections[0].source == "chat"
    assert corrections[0].routed == "general"
    await service.router.wait_for_refit()
    assert service.router.model().info.corrections == 1
