"""The configuration a forecast recommends: cheap for easy questions, expensive for hard ones, within what is installed.

Three tiers: `cheap` (BM25-only retrieval, one generate-and-judge pass), `standard` (the fast hybrid
retrieval, a verify step) and `expensive` (fused retrieval, refine until good, verify, and a
collaboration when a multi-agent collaborator is installed); no tier retrieves above the configured
`hololoom.config_mode`. A question is `expensive` when its
difficulty is in the top `expensive_share` of recent difficulties (fixed cut-offs until 30 are known),
so the share sent down the expensive path stays within the budget.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine

CHEAP_LOOP = "generate -> judge"
STANDARD_LOOP = "generate -> judge -> verify"
EXPENSIVE_LOOP = "generate -> judge -> refine until quality >= 0.8 max 2 -> verify"
TIERS = ("cheap", "standard", "expensive")
MODE_ORDER = ("bare", "fast", "fused")
WINDOW = 500
MIN_FOR_QUANTILES = 30
REFRESH_EVERY = 10


def installed_modes(engine: Engine) -> tuple[str, ...]:
    """The retrieval modes the predictor may pick, cheapest first: none without memory, never above the configured mode.

    The configured `hololoom.config_mode` is the ceiling the operator chose to pay for; `fast` and `fused`
    also need their embedder's package.
    """
    if not engine.installed("memory"):
        return ()
    ceiling = MODE_ORDER.index(engine.config.hololoom.config_mode)
    available = {"bare": True, "fast": importlib.util.find_spec("wordllama") is not None,
                 "fused": importlib.util.find_spec("sentence_transformers") is not None}
    return tuple(mode for mode in MODE_ORDER[: ceiling + 1] if available[mode])


class ConfigurationAdvisor:
    """Turns a difficulty into a tier and the tier into configuration parameters the installed parts honour."""

    def __init__(self, engine: Engine, expensive_share: float) -> None:
        self.engine = engine
        self.expensive_share = expensive_share
        self.recent: deque[float] = deque(maxlen=WINDOW)
        self.modes = installed_modes(engine)
        self.loops = engine.installed("promptly")
        self._cached: tuple[float, float] | None = None
        self._since = 0

    def cut_offs(self) -> tuple[float, float]:
        """The difficulty below which a question is cheap, and at or above which it is expensive.

        Recomputed from the window every `REFRESH_EVERY` new difficulties (sorting on every question
        would cost more than the rest of the forecast).
        """
        if len(self.recent) < MIN_FOR_QUANTILES:
            return 0.3, 0.5
        if self._cached is not None and self._since < REFRESH_EVERY:
            return self._cached
        self._since = 0
        ordered = sorted(self.recent)
        high = ordered[min(len(ordered) - 1, int(len(ordered) * (1 - self.expensive_share)))]
        low = ordered[int(len(ordered) * 0.5)]
        self._cached = (min(low, high), high)
        return self._cached

    def tier(self, difficulty: float) -> str:
        """`cheap`, `standard` or `expensive` for this difficulty (ties at the cut-off are not expensive)."""
        low, high = self.cut_offs()
        if difficulty > high or (len(self.recent) < MIN_FOR_QUANTILES and difficulty >= high):
            return "expensive"
        return "cheap" if difficulty < low else "standard"

    def remember(self, difficulty: float) -> None:
        """Add a predicted difficulty to the window the cut-offs come from."""
        self.recent.append(difficulty)
        self._since += 1

    def params(self, tier: str) -> dict[str, Any]:
        """The configuration parameters of a tier, limited to what is installed."""
        params: dict[str, Any] = {}
        if self.modes:
            wanted = {"cheap": 0, "standard": 1, "expensive": 2}[tier]
            params["retrieval_mode"] = self.modes[min(wanted, len(self.modes) - 1)]
        if self.loops:
            params["loop"] = {"cheap": CHEAP_LOOP, "standard": STANDARD_LOOP, "expensive": EXPENSIVE_LOOP}[tier]
        path = self.engine.answer_path
        if tier == "expensive" and path.collaborate is not None and len(path.agents) > 1:
            params["collaborate"] = True
        return params
