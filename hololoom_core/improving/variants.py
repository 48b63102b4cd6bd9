"""The library of real changes the loop may try: each variant is Configuration params the answer path honours.

`max_sources`, `min_overlap` and `max_runbooks` are read by the retriever chain, `retrieval_mode` by
memory's hybrid recall, `loop` and `spec` by Promptly's loop runner (engine/answering.py,
promptly/loops.py). Which variants are proposed depends on the weakness found.
"""

from __future__ import annotations

from typing import Any

REFINE_DEEP = "generate -> judge -> refine until quality >= 0.9 max 3 -> verify"
SINGLE_PASS = "generate -> judge"

LIBRARY: dict[str, dict[str, Any]] = {
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
    "grounded": ("more-context", "wide-runbooks", "history-only"),
    "actionable": ("deep-refine", "wide-runbooks", "more-context"),
    "concise": ("lean-context", "single-pass", "no-verify-section"),
    "structure": ("deep-refine", "no-verify-section"),
    "safe": ("deep-refine",),
    "quality": ("more-context", "history-only", "deep-refine", "lean-context"),
    "feedback": ("more-context", "history-only", "wide-runbooks"),
}


def proposals(weakness: str, tuned: list[dict[str, Any]] | None = None, limit: int = 2) -> dict[str, dict[str, Any]]:
    """Up to `limit` challenger variants for a weakness: the tune's best configurations first, then the library."""
    chosen: dict[str, dict[str, Any]] = {}
    for index, params in enumerate(tuned or []):
        if params and len(chosen) < limit and params not in chosen.values():
            chosen[f"tuned-{index + 1}"] = dict(params)
    for name in FOR_WEAKNESS.get(weakness, FOR_WEAKNESS["quality"]):
        if len(chosen) >= limit:
            break
        if LIBRARY[name] not in chosen.values():
            chosen[name] = dict(LIBRARY[name])
    return chosen
