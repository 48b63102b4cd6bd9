"""The five specialist agents and the task types that call for a collaboration, read from package data.

`data/agents.yaml` holds each agent's id, name, brief, instructions, checklist and knowledge focus (the
runbooks tagged for it); `data/utterances.yaml` holds the labelled questions the router learns from.
The ids `incident`, `security`, `code_review`, `deployment` and `general` are part of the interface.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hololoom_core.answers.types import Agent
from hololoom_core.yamldoc import parse_yaml

DATA_DIR = Path(__file__).parent / "data"
AGENTS_FILE = DATA_DIR / "agents.yaml"
UTTERANCES_FILE = DATA_DIR / "utterances.yaml"
AGENT_IDS: tuple[str, ...] = ("incident", "security", "code_review", "deployment", "general")
FALLBACK_AGENT = "general"
HELD_OUT_EVERY = 4  # every 4th question of each agent (positions 4, 8, ...) is held out: 25%


class RosterError(Exception):
    """The shipped agent data is unusable; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """One specialist: its id, name, brief, checklist and the runbooks it focuses on.

    Its perspective instructions are its section of the ultraprompt spec (`agents.<id>.instructions`),
    which the prompt adds; `instructions` here carries the checklist.
    """

    id: str
    name: str
    brief: str
    instructions: str
    checklist: tuple[str, ...]
    runbooks: tuple[str, ...]

    def as_agent(self) -> Agent:
        """The answer path's `Agent` (its instructions carry the checklist)."""
        return Agent(self.id, self.brief, self.instructions)


@dataclass(frozen=True, slots=True)
class TaskType:
    """A kind of question that needs several agents (a security incident ...): every pattern must match."""

    name: str
    agents: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]

    def matches(self, question: str) -> bool:
        """Whether every pattern of this task type occurs in the question."""
        return all(pattern.search(question) for pattern in self.patterns)


@dataclass(frozen=True, slots=True)
class Roster:
    """The agents in their fixed order, and the task types."""

    agents: tuple[AgentProfile, ...]
    task_types: tuple[TaskType, ...]

    def get(self, agent_id: str) -> AgentProfile | None:
        """The agent with this id, or None."""
        return next((agent for agent in self.agents if agent.id == agent_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        """The agent ids in order."""
        return tuple(agent.id for agent in self.agents)

    def task_type(self, question: str) -> TaskType | None:
        """The first task type the question matches, or None."""
        return next((task for task in self.task_types if task.matches(question)), None)


def _read(path: Path) -> Any:
    data, _document = parse_yaml(path.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def load_roster() -> Roster:
    """The shipped roster (read once per process)."""
    data = _read(AGENTS_FILE)
    profiles = []
    for item in data.get("agents") or []:
        profiles.append(AgentProfile(
            id=str(item["id"]), name=str(item["name"]), brief=str(item["brief"]),
            instructions=("Cover: " + "; ".join(str(c) for c in item["checklist"]) + ".") if item.get("checklist") else "",
            checklist=tuple(str(c) for c in item.get("checklist") or ()),
            runbooks=tuple(str(r) for r in item.get("runbooks") or ()),
        ))
    if tuple(p.id for p in profiles) != AGENT_IDS:
        raise RosterError(f"{AGENTS_FILE}: the agents must be, in order, {', '.join(AGENT_IDS)}")
    tasks = []
    for item in data.get("task_types") or []:
        agents = tuple(str(a) for a in item["agents"])
        unknown = [a for a in agents if a not in AGENT_IDS]
        if unknown:
            raise RosterError(f"{AGENTS_FILE}: task type {item['name']!r} names unknown agent(s) {unknown}")
        tasks.append(TaskType(str(item["name"]), agents,
                              tuple(re.compile(str(p), re.I | re.S) for p in item["all"])))
    return Roster(tuple(profiles), tuple(tasks))


@dataclass(frozen=True, slots=True)
class LabelledSet:
    """The labelled questions: the training split, the held-out split, and a hash of the file."""

    train: tuple[tuple[str, str], ...]
    held_out: tuple[tuple[str, str], ...]
    digest: str


@lru_cache(maxsize=1)
def load_utterances() -> LabelledSet:
    """The shipped labelled set, split the fixed way: every 4th question per agent is held out."""
    raw = UTTERANCES_FILE.read_bytes()
    data, _document = parse_yaml(raw.decode("utf-8"))
    train: list[tuple[str, str]] = []
    held_out: list[tuple[str, str]] = []
    for agent in AGENT_IDS:
        for position, text in enumerate(data.get(agent) or [], start=1):
            (held_out if position % HELD_OUT_EVERY == 0 else train).append((str(text), agent))
    return LabelledSet(tuple(train), tuple(held_out), hashlib.sha256(raw).hexdigest()[:16])
