"""Bus events of the marketplace, for the app and the room announcements."""

from __future__ import annotations

from dataclasses import dataclass

from hololoom_core.events import Event


@dataclass(slots=True)
class MarketplaceChanged(Event):
    """A package was installed, updated (by hand or automatically), rolled back or removed."""

    action: str  # install | update | auto_update | rollback | remove
    package: str
    version: str
    detail: str = ""
