"""The Ollama provider: chat with streaming, embeddings and model listing through the official client.

It uses `ollama.AsyncClient` unmodified. Every failure becomes `OllamaError` with one line
naming the server and what to do (the official client raises `ConnectionError` for a refused
non-streaming request and lets `httpx.ConnectError` through for a refused stream; both are
caught). The answer path catches the error and answers with the offline engine, saying so.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import ollama

from hololoom_core.config import LlmConfig
from hololoom_core.llm.base import AnswerRequest, DeltaCallback, ProviderStatus


class OllamaError(Exception):
    """An Ollama call failed; the message is one line naming the server and the fix."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model installed on the Ollama server."""

    name: str
    size: int
    family: str
    parameter_size: str


def short_model_name(name: str) -> str:
    """`llama3.2` and `llama3.2:latest` name the same model; compare them in this form."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


async def _call_delta(on_delta: DeltaCallback | None, text: str) -> None:
    if on_delta is None or not text:
        return
    result = on_delta(text)
    if inspect.isawaitable(result):
        await result


class OllamaProvider:
    """Answers through an Ollama server; streams chat chunks to the caller's `on_delta`."""

    name = "ollama"
    is_language_model = True

    def __init__(self, config: LlmConfig, *, client_factory: Callable[[], ollama.AsyncClient] | None = None) -> None:
        self.config = config
        self.host = config.host
        self.model = config.model
        self.embed_model = config.embed_model
        self._client_factory = client_factory
        self._clients: dict[int, ollama.AsyncClient] = {}

    # -- the client ------------------------------------------------------------------------------

    def _client(self) -> ollama.AsyncClient:
        """One client per event loop (an httpx client must not cross loops)."""
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            if self._client_factory is not None:
                client = self._client_factory()
            else:
                timeout = httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
                client = ollama.AsyncClient(host=self.host, timeout=timeout)
            self._clients = {loop_id: client}  # an older loop's client is abandoned with its loop
        return client

    async def close(self) -> None:
        """Close the HTTP client of the current loop."""
        client = self._clients.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.close()

    def _error(self, exc: BaseException, what: str, model: str | None = None) -> OllamaError:
        """Turn any client failure into one operator-facing line."""
        where = f"ollama at {self.host}"
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404 and "not found" in str(exc.error):
                name = model or self.model
                return OllamaError(f"{where}: model '{name}' is not installed (run: ollama pull {name})")
            return OllamaError(f"{where}: {what} failed with HTTP {exc.status_code}: {exc.error}")
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return OllamaError(f"{where} is unreachable (is `ollama serve` running? set llm.host or OLLAMA_HOST)",
                               unreachable=True)
        if isinstance(exc, httpx.TimeoutException):
            kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for the model"
            limit = self.config.connect_timeout_s if isinstance(exc, httpx.ConnectTimeout) else self.config.timeout_s
            return OllamaError(f"{where}: timed out {kind} after {limit:g} s (raise llm.timeout_s?)",
                               unreachable=isinstance(exc, httpx.ConnectTimeout))
        if isinstance(exc, httpx.HTTPError):
            return OllamaError(f"{where}: {what} failed ({type(exc).__name__}: {exc})", unreachable=True)
        return OllamaError(f"{where}: {what} failed ({type(exc).__name__}: {exc})")

    # -- chat ------------------------------------------------------------------------------------

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        on_delta: DeltaCallback | None = None,
        format: Literal["", "json"] | dict[str, Any] | None = None,
        temperature: float | None = None,
        num_predict: int | None = None,
    ) -> str:
        """Send chat messages and return the reply; with `on_delta` the reply streams chunk by chunk."""
        model = model or self.model
        options: dict[str, Any] = {"temperature": self.config.temperature if temperature is None else temperature}
        if num_predict is not None:
            options["num_predict"] = num_predict
        client = self._client()
        try:
            if on_delta is None:
                response = await client.chat(model=model, messages=messages, format=format, options=options)
                return response.message.content or ""
            pieces: list[str] = []
            stream = await client.chat(model=model, messages=messages, format=format, options=options, stream=True)
            async for chunk in stream:
                text = chunk.message.content or ""
                if text:
                    pieces.append(text)
                    await _call_delta(on_delta, text)
            return "".join(pieces)
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._error(exc, "chat", model) from None

    async def answer(self, request: AnswerRequest, on_delta: DeltaCallback | None = None) -> str:
        """Answer a request: its pre-rendered `messages`, or a spec rendering of it; streams when asked."""
        messages = request.messages
        if not messages:
            from hololoom_core.answers.spec import default_spec
            from hololoom_core.answers.ultraprompt import render_messages

            messages = render_messages(
                default_spec(),
                question=request.question,
                sources=request.sources,
                agent=request.agent,
                agent_brief=request.agent_brief,
                instructions=request.instructions,
                history=request.history,
            )
        stream_to: DeltaCallback = on_delta if on_delta is not None else _discard
        return await self.chat(messages, on_delta=stream_to, temperature=request.temperature)

    # -- embeddings and models -------------------------------------------------------------------

    async def embed(self, texts: list[str], *, model: str | None = None) -> list[list[float]]:
        """Embedding vectors for `texts`, one per text, from the embedding model."""
        if not texts:
            return []
        model = model or self.embed_model
        try:
            response = await self._client().embed(model=model, input=texts)
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._error(exc, "embed", model) from None
        return [list(vector) for vector in response.embeddings]

    async def list_models(self) -> list[ModelInfo]:
        """The models installed on the server."""
        try:
            response = await self._client().list()
        except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
            raise self._error(exc, "listing models") from None
        models = []
        for item in response.models:
            details = item.details
            models.append(
                ModelInfo(
                    name=item.model or "",
                    size=int(item.size or 0),
                    family=(details.family if details else None) or "",
                    parameter_size=(details.parameter_size if details else None) or "",
                )
            )
        return models

    async def status(self) -> ProviderStatus:
        """Reachable, and the answering model installed? One line either way."""
        try:
            models = await asyncio.wait_for(self.list_models(), timeout=self.config.connect_timeout_s + 2)
        except OllamaError as exc:
            return ProviderStatus(self.name, False, str(exc))
        except TimeoutError:
            return ProviderStatus(self.name, False, f"ollama at {self.host}: no answer to a model listing "
                                  f"within {self.config.connect_timeout_s + 2:g} s")
        names = {short_model_name(m.name) for m in models}
        wanted = short_model_name(self.model)
        if wanted not in names:
            return ProviderStatus(self.name, False, f"ollama at {self.host}: model '{self.model}' is not installed "
                                  f"(run: ollama pull {self.model}); {len(models)} model(s) available")
        return ProviderStatus(self.name, True, f"ollama at {self.host}, model {self.model} ({len(models)} installed)")


def _discard(text: str) -> Awaitable[None] | None:
    """A delta sink for callers that do not watch the stream (streaming still keeps long answers alive)."""
    return None
