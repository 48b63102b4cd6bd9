"""A scripted HTTP server that speaks Ollama's REST API, for tests and demos without the Ollama binary.

``OllamaWireServer`` listens on 127.0.0.1 (a free port unless one is given) in its own
thread, so it works from plain tests, from any asyncio event loop, and as a demo
process (``python -m hololoom_core.testing.ollama_server --port 11434``).  It is
built to be driven by the unmodified official ``ollama`` Python client
(``ollama.Client`` / ``ollama.AsyncClient``) and reproduces the wire format that
client parses.

What it implements, with Ollama's JSON shapes and status codes:

* ``POST /api/chat`` -- NDJSON streaming (``application/x-ndjson``, chunked, one
  chunk per word-token, final chunk ``done: true`` with ``done_reason`` and the
  metrics ``total_duration``, ``load_duration``, ``prompt_eval_count``,
  ``prompt_eval_duration``, ``eval_count``, ``eval_duration``; zero metrics are
  omitted as Go's ``omitempty`` does) and ``"stream": false``.  ``stream`` defaults
  to true when absent, as in Ollama.  ``options`` are type-checked like Ollama's
  and ``num_predict`` (truncates, ``done_reason: "length"``) and ``stop`` are
  honoured; ``keep_alive`` (seconds or Go duration strings) drives ``/api/ps``;
  an empty ``messages`` list answers ``done_reason: "load"`` (``"unload"`` with
  ``keep_alive: 0``).  ``format`` (``"json"`` or a schema) is accepted and the
  scripted reply returned as is (the default responder then answers a JSON object).
  ``think`` is honoured for models with the ``thinking`` capability (a reply of the
  form ``<think>...</think>answer`` is split into ``message.thinking`` and
  ``message.content``) and rejected with 400 for the others; ``tools`` are rejected
  with 400 for models without the ``tools`` capability, and a responder may return
  a :class:`ScriptedReply` with ``tool_calls`` to script the model calling a tool.
* ``POST /api/generate`` -- streaming and not, ``response`` fragments, final
  ``context`` token list, ``system``/``template``/``raw``/``suffix``/``context``/
  ``images`` accepted, raw-mode validation, load/unload on an empty prompt.
* ``POST /api/embed`` (``input`` string or list of strings -> ``embeddings``,
  ``dimensions`` truncation + renormalisation) and the legacy
  ``POST /api/embeddings`` (``prompt`` -> ``embedding``).  Vectors are
  deterministic: a sum of fixed pseudo-random vectors, one per lower-cased word,
  384 dimensions, unit length, so texts sharing words are closer than unrelated ones.
* ``GET /api/tags``, ``POST /api/show`` (``modelfile``, ``parameters``,
  ``template``, ``details``, ``model_info``, ``capabilities``, ``modified_at``),
  ``GET /api/version``, ``GET /api/ps`` (models used recently, with
  ``expires_at`` from ``keep_alive``), ``GET``/``HEAD /`` -> ``Ollama is running``.
* Errors as Ollama sends them: ``{"error": "..."}`` bodies; 400 for missing or
  malformed bodies (``missing request body``, Go-style ``json: cannot unmarshal``
  messages, ``model is required``, unsupported capabilities), 404 for unknown
  models (``model "x" not found, try pulling it first`` on inference endpoints,
  ``model 'x' not found`` on ``/api/show``), 404 ``404 page not found`` and 405
  ``405 method not allowed`` as plain text for unknown routes/methods, and a
  scripted mid-stream ``{"error": "..."}`` line (``fail_mid_stream``) or a
  scripted status failure (``fail_next``).

Scripting: ``models`` (names or :class:`ModelSpec`), a ``responder`` callable
``(endpoint, request_json) -> str | ScriptedReply`` (endpoint is the path, e.g.
``"/api/chat"``; default: a deterministic reply echoing a short summary of the last
user message), ``queue_replies`` for fixed replies in order, ``token_delay`` and
``load_delay`` (seconds) for timing tests, ``fail_next`` / ``fail_mid_stream``,
and ``requests`` (the received JSON bodies) / ``log`` (method, path, body, headers).

What it does NOT cover compared with real Ollama:

* No real models or inference: replies come only from the responder; token counts
  and durations are synthetic (word-based tokens, wall-clock timings).
* Model management is not implemented: ``/api/pull``, ``/api/push``,
  ``/api/create``, ``/api/copy``, ``DELETE /api/delete``, ``/api/blobs/*`` answer
  501 with an ``{"error": ...}`` body (install models with the constructor or
  :meth:`OllamaWireServer.set_models` instead).
* The OpenAI-compatible (``/v1/*``), Anthropic-compatible (``/v1/messages``),
  web search/fetch, sign-in and ``/api/status`` routes are absent (404).
* Images are accepted and ignored (no vision); no image generation.
* Structured outputs are not enforced: ``format`` schemas are never validated
  against the reply.  Tool calls only happen when the responder scripts them; no
  tool-call parsing of model text, no ``logprobs``/``top_logprobs`` output.
* Templates are not rendered (``template``/``system``/``raw`` only affect
  validation and ``/api/show``), ``context`` is not detokenised, ``suffix`` is not
  checked against an ``insert`` capability, ``truncate``/context-length limits are
  not applied, ``options`` other than ``num_predict``/``stop`` have no effect.
* Embeddings are not semantic (hashed bag of words: synonyms are unrelated) and do not
  depend on the model.
* No concurrency limits/queueing (``OLLAMA_NUM_PARALLEL``, 503 ``server busy``),
  no CORS/allowed-host checks, no request cancellation semantics (499), no
  ``OLLAMA_*`` environment handling, no ``tensors``/``projector_info`` in show.
* Go's exact wording is reproduced only for the errors listed above; other JSON
  syntax errors get a Go-like but not identical message.

Layout: ``models`` (installed-model metadata), ``scripting`` (replies, responder,
recorded requests), ``embeddings`` (the deterministic embedder), ``validation``
(Go-style request checks), ``responses`` (JSON bodies and NDJSON chunks),
``handler`` (HTTP plumbing), ``state`` (the scripting API and its state),
``catalog`` and ``inference`` (the endpoints), ``server`` (:class:`OllamaWireServer`:
lifecycle and dispatch) and ``cli`` (``python -m``).
"""

from __future__ import annotations

from hololoom_core.testing.ollama_server.cli import main
from hololoom_core.testing.ollama_server.embeddings import EMBEDDING_DIM, embed_text
from hololoom_core.testing.ollama_server.models import (
    DEFAULT_CHAT_MODEL,
    DEFAULT_EMBED_MODEL,
    ModelSpec,
    normalize_model_name,
)
from hololoom_core.testing.ollama_server.scripting import (
    RecordedRequest,
    Responder,
    ScriptedReply,
    default_responder,
)
from hololoom_core.testing.ollama_server.server import OllamaWireServer
from hololoom_core.testing.ollama_server.state import DEFAULT_KEEP_ALIVE_S as DEFAULT_KEEP_ALIVE_S
from hololoom_core.testing.ollama_server.state import DEFAULT_VERSION as DEFAULT_VERSION

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "DEFAULT_EMBED_MODEL",
    "EMBEDDING_DIM",
    "ModelSpec",
    "OllamaWireServer",
    "RecordedRequest",
    "Responder",
    "ScriptedReply",
    "default_responder",
    "embed_text",
    "main",
    "normalize_model_name",
]
