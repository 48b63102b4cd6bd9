"""The library of real changes the loop may try: each variant is Configuration params the answer path honours.

`max_sources`, `min_overlap`, `min_similarity` and `max_runbooks` are read by the retriever chain, `retrieval_mode` by
memory's hybrid recall, `loop` and `spec` by Promptly's loop runner (engine/answering.py,
promptly/loops.py). Which variants are proposed depends on the weakness found.
"""

from __future__ import annotations

from typing import Any

REFINE_DEEP = "generate -> judge -> refine until quality >= 0.9 max 3 -> verify"
SINGLE_PASS = "generate -> judge"

LIBRARY: dict[str, dict[str, Any]] = {
    "semantic-recall": {"min_similarity": 0.3},
    "more-context": {"max_sources": 8, "min_overlap": 0.2},
    "wide-runbooks": {"max_runbooks": 3},
    "lean-context": {"max_sources": 2, "max_runbooks": 1},
    "history-only": {"max_runbooks": 0, "max_sources": 8, "min_overlap": 0.2},
    "deep-refine": {"loop": REFINE_DEEP},
    "single-pass": {"loop": SINGLE_PASS},
    "no-verify-section": {"spec": {"options": {"verification": False}}},
    "bare-recall": {"retrieval_mode": "bare"},
}

# Which library variants address which weakness (criterion names come from the judge's rubric).
FOR_WEAKNESS: dict[str, tuple[str, ...]] = {
    "grounded": ("semantic-recall", "more-context", "wide-runbooks", "history-only"),
    "actionable": ("deep-refine", "wide-runbooks", "more-context"),
    "concise": ("lean-context", "single-pass", "no-verify-section"),
    "structure": ("deep-refine", "no-verify-section"),
    "safe": ("deep-refine",),
    "quality": ("semantic-recall", "more-context", "history-only", "deep-refine", "lean-context"),
    "feedback": ("semantic-recall", "history-only", "more-context", "wide-runbooks"),
}


def proposals(weakness: str, tuned: list[dict[str, Any]] | None = None, limit: int = 2,
              exclude: list[dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Up to `limit` challenger variants for a weakness: the tune's best configurations first, then the library,
    leaving out the ones in `exclude` (already tried for this weakness)."""
    tried = list(exclude or [])
    chosen: dict[str, dict[str, Any]] = {}
    candidates = [(f"tuned-{index + 1}", params) for index, params in enumerate(tuned or [])]
    candidates += [(name, LIBRARY[name]) for name in FOR_WEAKNESS.get(weakness, FOR_WEAKNESS["quality"])]
    for name, params in candidates:
        if len(chosen) >= limit:
            break
        if params and params not in chosen.values() and params not in tried:
            chosen[name] = dict(params)
    return chosen
