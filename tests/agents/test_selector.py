"""The optional model selector against the Ollama wire server: decides when unsure, router as fallback and tie-breaker."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from hololoom_core.agents.service import MultiAgentService
from hololoom_core.answers.types import AnswerContext, RoutingDecision
from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.testing.ollama_server import OllamaWireServer

QUESTION = "the thing is weird again"


async def decide(service: MultiAgentService, question: str, agents: dict[str, Any]) -> RoutingDecision:
    routed = service.route(AnswerContext(question), agents)
    return await routed if inspect.isawaitable(routed) else routed


async def test_selector_decides_when_unsure_and_the_router_breaks_ties_and_falls_back(tmp_path: Path) -> None:
    choice = {"agent": "general"}

    def respond(endpoint: str, request: dict[str, Any]) -> str:
        return json.dumps({"agent": choice["agent"], "reason": "the model's own reading of the question"})

    with OllamaWireServer(responder=respond) as server:
        config = Config.model_validate({"hololoom": {"data_dir": str(tmp_path)},
                                        "llm": {"provider": "ollama", "host": server.url},
                                        "agents": {"selector": "ollama", "selector_confidence": 0.99}})
        engine = Engine(config)
        try:
            service = engine.capability(MultiAgentService)
            assert service.selector is not None
            agents = engine.answer_path.agents
            ranked = sorted(service.router.decide(QUESTION).scores.items(), key=lambda item: -item[1])
            choice["agent"] = ranked[1][0]  # the router's runner-up: the selector overrides within the top two
            unsure = await decide(service, QUESTION, agents)
            assert unsure.decided_by == "selector:llama3.2" and unsure.agent == ranked[1][0]
            assert unsure.runner_up == ranked[0][0] and "own reading" in unsure.reason and "router:" in unsure.reason
            choice["agent"] = ranked[-1][0]  # outside the top two
            tie = await decide(service, QUESTION, agents)
            assert tie.decided_by == "router (tie-break)" and tie.agent == ranked[0][0]
            assert "breaks the tie" in tie.reason
            sure = service.route(AnswerContext("rollback the deploy of checkout-api"), agents)
            assert isinstance(sure, RoutingDecision) and sure.decided_by == "router"  # confident: no model call
            requests = server.requests_to("/api/chat")
            assert len(requests) == 2 and requests[0]["format"]["properties"]["agent"]["enum"][0] == "incident"
            server.stop()
            down = await decide(service, QUESTION, agents)
            assert down.decided_by == "router" and "failed" in down.reason
        finally:
            await engine.close()
