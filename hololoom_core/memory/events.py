"""Bus events of the memory capability."""

from __future__ import annotations

from dataclasses import dataclass

from hololoom_core.events import Event


@dataclass(slots=True)
class MemoryChanged(Event):
    """Tracked items of a room changed (new decision/action/question, reversal, answer, completion, forget)."""

    room_id: str
    kinds: tuple[str, ...] = ()
