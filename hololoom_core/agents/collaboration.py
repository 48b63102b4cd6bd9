"""Collaboration: several agents answer one question from their own perspective, then one synthesised answer.

`Collaboration` fills the answer path's `collaborate` slot. Each agent of the decision gets its own
request: its brief and instructions (with its checklist) and its knowledge focus (the runbooks tagged
for it come first among the sources). Each contribution runs through the path's loop runner, so it is
generated, judged (its own verdict) and refined like any answer. The consensus step compares their
recommended actions; the synthesis writes one ultraprompt answer (PLAN / ANSWER / VERIFY / TL;DR) that
says which agent recommended what, and the path's judge scores it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hololoom_core.agents.consensus import Consensus, Contribution, compare, similarity_matrix
from hololoom_core.agents.roster import Roster
from hololoom_core.answers.types import LoopResult
from hololoom_core.answers.ultraprompt import render_sections
from hololoom_core.models import Source

if TYPE_CHECKING:
    from hololoom_core.answers.types import AnswerContext, Configuration, RoutingDecision
    from hololoom_core.config.agents import AgentsConfig
    from hololoom_core.engine.answering import AnswerPath
    from hololoom_core.llm.base import AnswerRequest

MAX_AGREED = 7
MAX_SINGLE_PER_AGENT = 3
MAX_CONFLICTS = 3
MAX_VERIFY = 4


def focused_sources(path: AnswerPath, question: str, focus: tuple[str, ...], found: list[Source]) -> list[Source]:
    """The sources for one agent: runbooks tagged for it first (searched again if none was retrieved), then the rest."""
    focused = [s for s in found if s.kind == "runbook" and s.ref in focus]
    if not focused and focus:
        for match in path.engine.runbooks.search(question, limit=8, min_confidence=0.15):
            if match.runbook.id in focus:
                focused.append(Source(kind="runbook", ref=match.runbook.id, title=match.runbook.title,
                                      excerpt=match.runbook.summary, score=match.confidence))
            if len(focused) >= 2:
                break
    others = [s for s in found if s.kind != "runbook"]
    if not focused:  # nothing in its focus matches: it answers from what everyone retrieved
        focused = [s for s in found if s.kind == "runbook"]
    return focused + others


def _attributed(agents: list[str]) -> str:
    return " + ".join(agents)


def _dedupe(lines: list[str], limit: int) -> list[str]:
    """Lines without near-duplicates (TF-IDF cosine >= 0.6), at most `limit`."""
    if not lines:
        return []
    similarity = similarity_matrix(lines)
    kept: list[int] = []
    for i in range(len(lines)):
        if all(similarity[i, j] < 0.6 for j in kept):
            kept.append(i)
        if len(kept) >= limit:
            break
    return [lines[i] for i in kept]


WORD_BUDGET = 430  # the synthesis stays readable during an incident (the judge's concise range ends at 450)


def synthesise(question: str, contributions: list[Contribution], consensus: Consensus,
               names: dict[str, str]) -> dict[str, str]:
    """One ultraprompt answer from the contributions, cut to `WORD_BUDGET` words by dropping the last steps."""
    sections: dict[str, str] = {}
    for max_agreed, max_single in ((MAX_AGREED, MAX_SINGLE_PER_AGENT), (6, 2), (5, 2), (4, 1), (3, 1), (2, 1)):
        sections = _synthesis(contributions, consensus, names, max_agreed, max_single)
        if sum(len(text.split()) for text in sections.values()) <= WORD_BUDGET:
            break
    return sections


def _synthesis(contributions: list[Contribution], consensus: Consensus, names: dict[str, str],
               max_agreed: int, max_single: int) -> dict[str, str]:
    """The synthesis with at most `max_agreed` agreed steps and `max_single` steps per agent alone."""
    team = [c.agent for c in contributions]
    plan = [
        f"Ask {len(team)} specialists to answer from their own runbooks and checklists: "
        + ", ".join(f"{names.get(a, a)} (`{a}`)" for a in team) + ".",
        f"Compare their {consensus.actions} recommended actions by similarity: {len(consensus.agreed)} agreed, "
        f"{len(consensus.single)} from one agent only, {len(consensus.conflicts)} conflict(s); "
        f"agreement {consensus.agreement:.2f}.",
        "Merge them below, agreed steps first; every step names the agent(s) that recommended it.",
    ]
    answer: list[str] = []
    best = max(contributions, key=lambda c: c.quality)
    lead = best.sections.get("ANSWER", "").split("\n\n")[0].strip()
    if lead and not lead.startswith(("1.", "-", "*")):
        answer.append(f"{lead} _(from {best.agent})_")
    number = 1
    if consensus.agreed:
        lines = []
        for item in consensus.agreed[:max_agreed]:
            lines.append(f"{number}. {item['action']} — _{_attributed(item['agents'])}_")
            number += 1
        answer.append("**Agreed by several agents**\n" + "\n".join(lines))
    by_agent: dict[str, list[str]] = {}
    for item in consensus.single:
        by_agent.setdefault(item["agent"], []).append(item["action"])
    own: list[str] = []
    for agent in team:
        for action in by_agent.get(agent, [])[:max_single]:
            own.append(f"{number}. {action} — _{agent} only_")
            number += 1
    if own:
        answer.append("**Recommended by one agent**\n" + "\n".join(own))
    if consensus.conflicts:
        lines = [f"- {c['agents'][0]}: {c['actions'][0]} **vs** {c['agents'][1]}: {c['actions'][1]}"
                 for c in consensus.conflicts[:MAX_CONFLICTS]]
        answer.append("**Conflicts — decide before acting**\n" + "\n".join(lines))
    used: dict[tuple[str, str], list[str]] = {}
    titles: dict[tuple[str, str], str] = {}
    for contribution in contributions:
        for source in contribution.sources:
            if getattr(source, "kind", "") == "runbook":
                used.setdefault((source.kind, source.ref), []).append(contribution.agent)
                titles[(source.kind, source.ref)] = source.title
    if used:
        answer.append("**Sources:** " + "; ".join(
            f"runbook `{ref}` ({titles[(kind, ref)]}) — {' + '.join(dict.fromkeys(agents))}"
            for (kind, ref), agents in used.items()))
    escalations = [line for c in contributions for line in c.sections.get("ANSWER", "").splitlines()
                   if line.startswith("**Escalate:**")]
    if escalations:
        answer.append(escalations[0])
    verify_lines = [line.split(maxsplit=1)[1] for c in contributions
                    for line in c.sections.get("VERIFY", "").splitlines()
                    if line.strip()[:1].isdigit() and len(line.split(maxsplit=1)) == 2]
    verify = _dedupe(verify_lines, MAX_VERIFY)
    first = consensus.agreed[0]["action"] if consensus.agreed else (consensus.single[0]["action"]
                                                                    if consensus.single else "")
    first_words = " ".join(first.split("`")[0].split()[:14]).rstrip(" ,.;:")
    tldr = (f"{_attributed(team)} answered together (agreement {consensus.agreement:.2f}, "
            f"{len(consensus.agreed)} agreed step(s), {len(consensus.conflicts)} conflict(s)).")
    if first_words:
        tldr += f" Start with: {first_words}."
    return {
        "PLAN": "\n".join(f"{n}. {line}" for n, line in enumerate(plan, start=1)),
        "ANSWER": "\n\n".join(answer) or "The agents recommended no concrete action; see their answers below.",
        "VERIFY": "\n".join(f"{n}. {line}" for n, line in enumerate(verify, start=1))
        or "1. Check the symptom again after each step and post the result here.",
        "TL;DR": tldr,
    }


def render_collaboration(consensus: Consensus, sections: dict[str, str], contributions: list[Contribution],
                         names: dict[str, str]) -> str:
    """The reply: the consensus first, the synthesised answer, then each contribution folded in `<details>`."""
    team = " + ".join(c.agent for c in contributions)
    head = (f"**Consensus** — {team} · agreement {consensus.agreement:.2f} · {len(consensus.agreed)} agreed, "
            f"{len(consensus.single)} single, {len(consensus.conflicts)} conflict(s)")
    parts = [head, render_sections(sections)]
    for contribution in contributions:
        parts.append(
            "<details>\n<summary>" + f"{contribution.agent} — {names.get(contribution.agent, contribution.agent)} "
            f"(judge {contribution.quality:.2f})" + "</summary>\n\n" + contribution.text.strip() + "\n\n</details>"
        )
    return "\n\n".join(parts)


class Collaboration:
    """The `collaborate` slot: runs each agent's loop, compares the actions, synthesises and judges one answer."""

    def __init__(self, roster: Roster, config: AgentsConfig) -> None:
        self.roster = roster
        self.config = config
        self.active: dict[str, str] = {}  # agent -> "answering" / "collaborating" while running

    async def contribute(self, path: AnswerPath, request: AnswerRequest, context: AnswerContext,
                         configuration: Configuration, agent_id: str) -> Contribution:
        """One agent's answer from its own perspective, judged by the path's loop."""
        profile = self.roster.get(agent_id)
        agent = path.agents.get(agent_id)
        focus = profile.runbooks if profile is not None else ()
        sources = focused_sources(path, request.question, focus, list(request.sources))
        own = replace(request, agent=agent_id, agent_brief=agent.brief if agent else request.agent_brief,
                      instructions=agent.instructions if agent else request.instructions, sources=sources,
                      messages=[])

        def quiet(_text: str) -> None:
            return None

        result = await path.loop_runner(path, own, context, configuration, quiet)
        return Contribution(
            agent=agent_id, name=profile.name if profile else agent_id, sections=dict(result.sections),
            quality=result.verdict.score, verdict=result.verdict.as_dict(),
            sources=list(result.sources if result.sources is not None else sources), provider=result.provider,
            text=result.text,
        )

    async def __call__(self, path: AnswerPath, request: AnswerRequest, context: AnswerContext,
                       configuration: Configuration, decision: RoutingDecision,
                       on_delta: Callable[[str], None]) -> LoopResult:
        """Answer with every agent of the decision, then return the judged synthesis with its details."""
        team = [name for name in decision.agents if name in path.agents][: self.config.max_collaborators]
        for name in team:
            self.active[name] = "collaborating"
        try:
            contributions = list(await asyncio.gather(
                *(self.contribute(path, request, context, configuration, name) for name in team)))
        finally:
            for name in team:
                self.active.pop(name, None)
        names = {profile.id: profile.name for profile in self.roster.agents}
        consensus = compare(contributions, self.config.agreement_threshold)
        sections = synthesise(request.question, contributions, consensus, names)
        sources: list[Source] = []
        seen: set[tuple[str, str]] = set()
        for contribution in contributions:
            for source in contribution.sources:
                key = (source.kind, source.ref)
                if key not in seen:
                    seen.add(key)
                    sources.append(source)
        judge = path.judge
        evaluate = getattr(judge, "evaluate", None)
        if evaluate is not None:
            outcome = await evaluate(request.question, sections, sources, None)
            verdict = outcome.verdict
        else:
            verdict = judge.judge(request.question, sections, sources)
        text = render_collaboration(consensus, sections, contributions, names)
        steps: list[dict[str, Any]] = [
            {"step": "collaborate", "agents": team,
             "contributions": {c.agent: round(c.quality, 4) for c in contributions}},
            {"step": "consensus", "agreement": round(consensus.agreement, 4), "agreed": len(consensus.agreed),
             "single": len(consensus.single), "conflicts": len(consensus.conflicts)},
            {"step": "judge", "judge": verdict.judge, "score": round(verdict.score, 4), "target": "synthesis"},
        ]
        providers = sorted({c.provider for c in contributions})
        details = {
            "agents": team,
            "contributions": [c.as_dict() for c in contributions],
            "consensus": consensus.as_dict(),
        }
        return LoopResult(text, sections, verdict, "+".join(providers), steps, sources=sources, details=details)
