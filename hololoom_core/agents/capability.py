"""Installs the five specialist agents: roster, router, collaboration, corrections, `!route` and `!collab`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.agents.collaboration import Collaboration
from hololoom_core.agents.corrections import CORRECTIONS_V1, CorrectionStore
from hololoom_core.agents.model import ModelCache
from hololoom_core.agents.roster import load_roster
from hololoom_core.agents.router import AgentRouter
from hololoom_core.agents.selector import ModelSelector
from hololoom_core.agents.service import MultiAgentService, UnknownAgent
from hololoom_core.answers.types import AnswerContext
from hololoom_core.engine.capabilities import Capability
from hololoom_core.engine.commands import CommandContext, CommandError, CommandResult

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class AgentsCapability(Capability):
    """Replaces the single generalist with five specialists, routed by an explainable, correctable classifier."""

    name = "agents"
    after = ("promptly",)
    migrations = {"agent_corrections": [CORRECTIONS_V1]}

    def install(self, engine: Engine) -> None:
        """Fill the agents, route and collaborate slots; register `!route`, `!collab` and the overview panel."""
        if not engine.config.features.multi_agent:
            return
        install_agents(engine)


def install_agents(engine: Engine) -> MultiAgentService:
    """Wire the multi-agent parts into `engine` and return the service."""
    config = engine.config.agents
    roster = load_roster()
    corrections = CorrectionStore(engine.store)
    router = AgentRouter(roster, config, ModelCache(engine.config.data_dir / "agents"), corrections.training_pairs)
    collaboration = Collaboration(roster, config) if config.collaboration else None
    service = MultiAgentService(engine, roster, router, corrections, collaboration)
    if config.selector == "ollama":
        chat = getattr(engine.provider, "chat", None)
        if getattr(engine.provider, "is_language_model", False) and chat is not None:
            service.selector = ModelSelector(chat, engine.config.llm.model, roster)
        else:
            engine.set_status("selector", "degraded", f"agents.selector is 'ollama' but provider "
                              f"{engine.provider.name} is not a language model; the offline router decides")
    path = engine.answer_path
    path.agents = {profile.id: profile.as_agent() for profile in roster.agents}
    path.route = service.route
    if collaboration is not None:
        path.collaborate = collaboration
    path.observers.append(service.observe_answer)
    engine.bus.subscribe(service.on_event)
    engine.provide(service)
    engine.overview_panels["agents"] = lambda _engine: service.overview_data()

    async def stop_router() -> None:
        router.close()

    engine.shutdown_hooks.append(stop_router)
    install_agent_commands(engine, service)
    return service


def install_agent_commands(engine: Engine, service: MultiAgentService) -> None:
    """Register `!route` (correct or explain a routing) and `!collab` (answer with several agents)."""
    ids = ", ".join(service.roster.ids)

    @engine.commands.command(
        "route", usage="route [AGENT]", group="agents",
        help=f"Reply to an answer with `!route AGENT` to say which agent should have answered ({ids}); "
             "without AGENT, explain the routing.",
    )
    async def route(context: CommandContext) -> str:
        target = service.target_interaction(context.message)
        if not context.argv:
            if target is None:
                raise CommandError("No recent answer here to explain; reply to one of my answers with `!route`")
            routing = target.details.get("routing") or {}
            scores = ", ".join(f"{name} {p:.2f}" for name, p in sorted((routing.get("scores") or {}).items(),
                                                                       key=lambda item: -item[1]))
            return (f"Answer #{target.id} went to **{routing.get('agent', target.agent)}** "
                    f"(confidence {float(routing.get('confidence') or 0):.2f}, decided by "
                    f"{routing.get('decided_by', 'default')}): {routing.get('reason', 'no reason recorded')}. "
                    f"Scores: {scores or 'none'}.")
        try:
            agent = service.check_agent(context.argv[0])
        except UnknownAgent as exc:
            raise CommandError(str(exc))
        if target is None:
            raise CommandError("No answer to correct: reply to one of my answers (or write in its thread) with "
                               f"`!route {agent}`")
        correction = service.correct(target.id, agent, context.user, "chat")
        accuracy = service.corrections.accuracy()
        verb = "Confirmed" if correction.confirms else "Corrected"
        figure = (f"router accuracy over {accuracy['n']} labelled decision(s): {accuracy['accuracy']:.0%}"
                  if accuracy["n"] else "no labelled decisions yet")
        moved = "" if correction.confirms else f" from {correction.routed}"
        return (f"{verb}: answer #{target.id} belongs to **{agent}**{moved}. Refitting the router in the "
                f"background with every correction; {figure}.")

    @engine.commands.command(
        "collab", usage="collab QUESTION", group="agents", aliases=("collaborate",),
        help="Answer a question with several specialist agents, a consensus and one synthesised answer.",
    )
    async def collab(context: CommandContext) -> CommandResult:
        question = context.args.strip()
        if not question:
            raise CommandError("Give the question: `!collab checkout 500s right after the deploy, roll back?`")
        if service.collaboration is None:
            raise CommandError("Collaboration is off (agents.collaboration: false in the config)")
        message = context.message
        service.router.force_collaboration(question)
        answer = await engine.answer_path.answer(AnswerContext(
            question=question, room_id=message.room_id, asker=message.sender, message_id=message.id,
            thread_id=message.thread_id))
        service.link_reply(message.event_id, answer.interaction_id)
        return CommandResult(answer.markdown, thread_id=message.thread_id or message.event_id,
                             data={"interaction_id": answer.interaction_id})
