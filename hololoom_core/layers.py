"""The layers of `hololoom_core`, lowest first: a package may import only from its own layer or below.

`tests/test_layers.py` walks every module's runtime imports (imports under `if TYPE_CHECKING:` are
skipped; imports inside functions count) and fails on an import from a lower layer to a higher
one and on any cycle between sub-packages. docs/architecture.md explains each layer.
"""

from __future__ import annotations

# Each entry is one layer; the names are sub-packages or top-level modules of hololoom_core.
# Inside one layer imports may go either way, but never in a cycle.
LAYERS: tuple[tuple[str, ...], ...] = (
    # foundation leaves: data types, the clock, YAML, redaction, events and the bus, text helpers
    ("__init__", "models", "clock", "yamldoc", "redact", "subprocesses", "events", "bus", "text", "layers",
     "lazyimport", "testing", "rooms", "packages"),
    # the answer path's vocabulary: ultraprompt format, spec, loop DSL, heuristic judge, answer types
    ("answers",),
    ("config",),
    ("store",),
    ("llm",),
    # the engine: the pipeline, the answer path, commands, access, capabilities and their slots
    ("engine",),
    # feature capabilities, in the order they may import each other
    ("transport",),
    ("memory",),
    ("promptly",),
    ("ops",),
    # the learning half: specialist agents and their router, quality prediction, the self-improving
    # loop and its simulation harness, team learning (mining, export), the workflow marketplace
    ("agents",),
    ("quality",),
    ("improving",),
    ("learning",),
    ("marketplace",),
    # `hololoom doctor` checks every part; the CLI drives everything
    ("doctor",),
    ("cli",),
)


def layer_of(name: str) -> int | None:
    """The layer index (0 = lowest) of a sub-package or top-level module name, or None when unplaced."""
    for index, names in enumerate(LAYERS):
        if name in names:
            return index
    return None
