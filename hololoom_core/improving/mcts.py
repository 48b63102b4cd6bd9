"""UCT Monte-Carlo tree search over a fixed-depth tree of choices, with noisy, costly leaf evaluations.

Each level of the tree is one decision (retrieval, agent, loop, prompt); a leaf is a full
configuration. One iteration descends by UCB1 (unvisited children first), evaluates the leaf once
(a reward in [0, 1], e.g. the judge score of one answer) and backs the reward up the path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(slots=True)
class Node:
    """One node: the choices made so far, its visits and summed reward, and its children."""

    path: tuple[str, ...]
    visits: int = 0
    reward_sum: float = 0.0
    children: dict[str, Node] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """Mean reward of the evaluations below this node."""
        return self.reward_sum / self.visits if self.visits else 0.0


@dataclass(slots=True)
class SearchResult:
    """The best leaf, its mean reward and visits, the evaluations spent and the tree's statistics."""

    best: tuple[str, ...]
    best_mean: float
    best_visits: int
    evaluations: int
    levels: list[list[dict[str, Any]]]
    leaves: int
    ranked: list[tuple[tuple[str, ...], float, int]]


def uct_search(levels: Sequence[Sequence[str]], evaluate: Callable[[tuple[str, ...]], float], budget: int,
               rng: np.random.Generator, exploration: float = 0.5) -> SearchResult:
    """Spend `budget` leaf evaluations; the best leaf is the most visited (ties broken by mean)."""
    root = Node(())
    for _ in range(budget):
        node, trail = root, [root]
        for depth, options in enumerate(levels):
            unvisited = [option for option in options if option not in node.children]
            if unvisited:
                choice = unvisited[int(rng.integers(len(unvisited)))]
                node.children[choice] = Node((*node.path, choice))
                node = node.children[choice]
                trail.append(node)
                for rest in levels[depth + 1:]:  # a random rollout completes the configuration
                    choice = rest[int(rng.integers(len(rest)))]
                    node = node.children.setdefault(choice, Node((*node.path, choice)))
                    trail.append(node)
                break
            parent_visits = math.log(max(1, node.visits))
            node = max(node.children.values(), key=lambda child: child.mean + exploration * math.sqrt(
                parent_visits / max(1, child.visits)))
            trail.append(node)
        reward = evaluate(node.path)
        for visited in trail:
            visited.visits += 1
            visited.reward_sum += reward
    leaves = _leaves(root, len(levels))
    ranked = sorted(((leaf.path, leaf.mean, leaf.visits) for leaf in leaves), key=lambda item: (item[2], item[1]),
                    reverse=True)
    best = ranked[0] if ranked else ((), 0.0, 0)
    stats: list[list[dict[str, Any]]] = []
    frontier = [root]
    for _depth in range(len(levels)):
        merged: dict[str, tuple[int, float]] = {}
        next_frontier: list[Node] = []
        for node in frontier:
            for name, child in node.children.items():
                visits, total = merged.get(name, (0, 0.0))
                merged[name] = (visits + child.visits, total + child.reward_sum)
                next_frontier.append(child)
        stats.append([{"option": name, "visits": visits, "mean": round(total / visits, 4) if visits else 0.0}
                      for name, (visits, total) in sorted(merged.items(), key=lambda item: -item[1][0])])
        frontier = next_frontier
    return SearchResult(best[0], round(best[1], 4), best[2], budget, stats, len(leaves), ranked)


def _leaves(node: Node, depth: int) -> list[Node]:
    if depth == 0:
        return [node] if node.visits else []
    found: list[Node] = []
    for child in node.children.values():
        found.extend(_leaves(child, depth - 1))
    return found
