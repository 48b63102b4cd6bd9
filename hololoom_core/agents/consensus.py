"""Consensus between agents' answers: what they agree on, what only one recommends, where they conflict.

Each contribution's recommended actions are its numbered and bulleted steps. Actions of different agents
are compared by TF-IDF cosine similarity (word uni- and bigrams, English stop words out); two actions at
or above the agreement threshold are the same recommendation. Two actions conflict when they use the
opposite sides of an opposing pair ("roll back" / "roll forward", "restart" / "do not restart" ...) about
a similar object. The agreement score is the share of all actions that another agent also recommends,
with each conflict counted as one more action nobody agrees on: `agreed actions / (actions + conflicts)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hololoom_core.text.terms import term_set

_STEP = re.compile(r"^\s*(?:\d+[.)]|[-*])\s+(.+?)\s*$", re.M)
_NEGATION = re.compile(r"^\W*(?:do not|don't|dont|never|avoid)\b", re.I)
OPPOSITES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(left, re.I), re.compile(right, re.I))
    for left, right in (
        (r"\b(?:roll ?back|revert|undo)\b", r"\b(?:roll[- ]?forward|fix[- ]forward|hot ?fix)\b"),
        (r"\b(?:scale (?:up|out)|add (?:capacity|replicas|nodes))\b", r"\b(?:scale (?:down|in)|remove (?:replicas|nodes))\b"),
        (r"\b(?:disable|turn off|switch off)\b", r"\b(?:enable|turn on|switch on)\b"),
        (r"\b(?:block|deny|ban)\b", r"\b(?:allow|unblock|permit)\b"),
        (r"\b(?:delete|wipe|purge|destroy)\b", r"\b(?:preserve|keep|retain|snapshot)\b"),
        (r"\b(?:wait|hold|pause|freeze)\b", r"\b(?:proceed|ship|promote|continue)\b"),
    )
)
MAX_ACTIONS = 12


@dataclass(slots=True)
class Contribution:
    """One agent's answer in a collaboration: its sections, its judge verdict, sources and provider."""

    agent: str
    name: str
    sections: dict[str, str]
    quality: float
    verdict: dict[str, Any]
    sources: list[Any]
    provider: str
    text: str

    def actions(self) -> list[str]:
        """The recommended actions: numbered or bulleted steps of the ANSWER (quotes of messages left out)."""
        found = [m.group(1).strip() for m in _STEP.finditer(self.sections.get("ANSWER", ""))]
        return [a for a in found if "“" not in a and len(a.split()) >= 3][:MAX_ACTIONS]

    def as_dict(self) -> dict[str, Any]:
        """The `contributions[]` entry of `Answer.details`."""
        return {"agent": self.agent, "name": self.name, "sections": dict(self.sections),
                "quality": round(self.quality, 4), "verdict": self.verdict, "provider": self.provider,
                "sources": [getattr(s, "ref", str(s)) for s in self.sources]}


@dataclass(slots=True)
class Consensus:
    """Agreed actions (with every agent recommending them), single ones, conflicts, and the agreement score."""

    agreed: list[dict[str, Any]] = field(default_factory=list)
    single: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    agreement: float = 0.0
    actions: int = 0
    threshold: float = 0.45

    def as_dict(self) -> dict[str, Any]:
        """The `consensus` entry of `Answer.details`."""
        return {"agreed": self.agreed, "single": self.single, "conflicts": self.conflicts,
                "agreement": round(self.agreement, 4), "actions": self.actions, "threshold": self.threshold}


def similarity_matrix(texts: Sequence[str]) -> Any:
    """Pairwise TF-IDF cosine similarity of short texts (word uni- and bigrams, English stop words out)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not texts:
        return np.zeros((0, 0))
    try:
        vectors = TfidfVectorizer(ngram_range=(1, 2), stop_words="english", sublinear_tf=True).fit_transform(texts)
    except ValueError:  # only stop words
        return np.eye(len(texts))
    return (vectors @ vectors.T).toarray()


def _opposed(first: str, second: str, similarity: float, threshold: float) -> bool:
    """Opposite verbs about a shared object (a content word in common), or the same action once negated."""
    for left, right in OPPOSITES:
        if (left.search(first) and right.search(second) and not right.search(first)) or (
                right.search(first) and left.search(second) and not left.search(first)):
            stripped = [left.sub(" ", right.sub(" ", text)) for text in (first, second)]
            if term_set(stripped[0]) & term_set(stripped[1]):
                return True
    negated = bool(_NEGATION.search(first)) != bool(_NEGATION.search(second))
    return negated and similarity >= threshold * 0.6


def compare(contributions: Sequence[Contribution], threshold: float = 0.45) -> Consensus:
    """Match the contributions' actions across agents and score how much they agree."""
    items = [(c.agent, action) for c in contributions for action in c.actions()]
    consensus = Consensus(actions=len(items), threshold=threshold)
    if not items:
        return consensus
    similarity = similarity_matrix([action for _, action in items])
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    conflict_pairs: set[tuple[int, int]] = set()
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if items[i][0] == items[j][0]:
                continue
            score = float(similarity[i, j])
            if _opposed(items[i][1], items[j][1], score, threshold):
                conflict_pairs.add((i, j))
            elif score >= threshold:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(root(i), []).append(i)
    covered = 0
    for members in groups.values():
        agents = list(dict.fromkeys(items[i][0] for i in members))
        if len(agents) > 1:
            covered += len(members)
            best = max(members, key=lambda i: (sum(similarity[i, j] for j in members), -i))
            consensus.agreed.append({"action": items[best][1], "agents": agents,
                                     "variants": {items[i][0]: items[i][1] for i in members}})
        else:
            consensus.single.append({"action": items[members[0]][1], "agent": agents[0]})
    for i, j in sorted(conflict_pairs):
        consensus.conflicts.append({"agents": [items[i][0], items[j][0]], "actions": [items[i][1], items[j][1]],
                                    "similarity": round(float(similarity[i, j]), 4)})
    consensus.agreement = covered / (len(items) + len(consensus.conflicts))
    return consensus
