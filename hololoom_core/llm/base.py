"""The interface every language provider implements, and the request the answer path hands it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from hololoom_core.models import Source

DeltaCallback = Callable[[str], Awaitable[None] | None]


@dataclass(slots=True)
class AnswerRequest:
    """Everything a provider needs to answer one question."""

    question: str
    sources: list[Source]
    room_id: str | None = None
    asker: str | None = None
    agent: str = "generalist"
    agent_brief: str = ""
    configuration: str = "default"
    instructions: str = ""
    temperature: float = 0.2
    history: list[str] = field(default_factory=list)
    # Chat messages already rendered from the ultraprompt spec; a language provider sends these when set.
    messages: list[dict[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class ProviderStatus:
    """Whether a provider can answer right now, and why not."""

    name: str
    available: bool
    detail: str


class LanguageProvider(Protocol):
    """Produces answer text (Markdown in the ultraprompt structure) for a request."""

    name: str
    is_language_model: bool

    async def answer(self, request: AnswerRequest, on_delta: DeltaCallback | None = None) -> str:
        """Return the answer text; `on_delta` receives pieces as they are produced, when streaming."""
        ...

    async def status(self) -> ProviderStatus:
        """Report availability."""
        ...
