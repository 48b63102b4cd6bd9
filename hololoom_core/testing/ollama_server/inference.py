"""The Ollama wire server's inference endpoints: chat, generate, embed and the legacy embeddings."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from hololoom_core.testing.ollama_server.embeddings import _normalize, embed_text
from hololoom_core.testing.ollama_server.handler import _Handler
from hololoom_core.testing.ollama_server.models import ModelSpec, _full_model_name
from hololoom_core.testing.ollama_server.responses import (
    _chat_chunk,
    _context,
    _final_metrics,
    _generate_chunk,
    _metrics,
    _tokens,
)
from hololoom_core.testing.ollama_server.state import _WireState
from hololoom_core.testing.ollama_server.validation import (
    _check_body,
    _check_options,
    _parse_keep_alive,
    _RequestError,
    _think_enabled,
)

_THINK_RE = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)


class _InferenceEndpoints(_WireState):
    """Endpoints that answer from the responder or the deterministic embedder."""

    def _resolve_inference_model(self, req: Mapping[str, Any]) -> tuple[str, ModelSpec]:
        """Return (requested name, spec) or raise Ollama's 400/404."""
        name = req.get("model") or ""
        if not name:
            raise _RequestError(400, "model is required")
        spec = self._find_model(name)
        if spec is None:
            raise _RequestError(404, f'model "{name}" not found, try pulling it first')
        return name, spec

    def _chat(self, handler: _Handler, body: Any, head: bool) -> None:
        """``POST /api/chat``."""
        started = time.perf_counter_ns()
        req = _check_body(body, "ChatRequest")
        name, spec = self._resolve_inference_model(req)
        keep_alive = _parse_keep_alive(req.get("keep_alive"))
        messages = req.get("messages") or []
        if not messages and keep_alive == 0:
            self._touch_loaded(spec, 0, 0)
            handler.send_json(200, _chat_chunk(name, "", done=True, done_reason="unload"))
            return
        if "completion" not in spec.capabilities:
            raise _RequestError(400, f'"{name}" does not support chat')
        if req.get("tools") and "tools" not in spec.capabilities:
            raise _RequestError(400, f"{_full_model_name(spec.name)} does not support tools")
        think = self._resolve_think(req, name, spec)
        options = _check_options(req.get("options"))
        self._touch_loaded(spec, keep_alive, int(options.get("num_ctx") or 4096))
        if not messages:
            self._sleep(self.load_delay)
            handler.send_json(200, _chat_chunk(name, "", done=True, done_reason="load"))
            return
        prompt_text = "\n".join(str(m.get("content") or "") for m in messages)
        prompt_count = len(_tokens(prompt_text)) + 4 * len(messages)
        self._respond(handler, "/api/chat", req, name, think, options, prompt_count, started)

    def _generate(self, handler: _Handler, body: Any, head: bool) -> None:
        """``POST /api/generate``."""
        started = time.perf_counter_ns()
        req = _check_body(body, "GenerateRequest")
        name, spec = self._resolve_inference_model(req)
        keep_alive = _parse_keep_alive(req.get("keep_alive"))
        prompt = req.get("prompt") or ""
        if not prompt and keep_alive == 0:
            self._touch_loaded(spec, 0, 0)
            handler.send_json(200, _generate_chunk(name, "", done=True, done_reason="unload"))
            return
        if req.get("raw") and (req.get("template") or req.get("system") or req.get("context")):
            raise _RequestError(400, "raw mode does not support template, system, or context")
        if "completion" not in spec.capabilities:
            raise _RequestError(400, f'"{name}" does not support generate')
        think = self._resolve_think(req, name, spec)
        options = _check_options(req.get("options"))
        self._touch_loaded(spec, keep_alive, int(options.get("num_ctx") or 4096))
        if not prompt:
            self._sleep(self.load_delay)
            handler.send_json(200, _generate_chunk(name, "", done=True, done_reason="load"))
            return
        prompt_text = f"{req.get('system') or spec.system}\n{prompt}"
        prompt_count = len(_tokens(prompt_text)) + len(req.get("context") or []) + 4
        self._respond(handler, "/api/generate", req, name, think, options, prompt_count, started)

    @staticmethod
    def _resolve_think(req: Mapping[str, Any], name: str, spec: ModelSpec) -> bool:
        """Apply Ollama's thinking rules: default on for thinking models, 400 when asked of others."""
        value = req.get("think")
        if "thinking" in spec.capabilities:
            return True if value is None else _think_enabled(value)
        if value is not None and _think_enabled(value):
            raise _RequestError(400, f'"{name}" does not support thinking')
        return False

    def _sleep(self, seconds: float) -> None:
        """Sleep for scripted latency."""
        if seconds > 0:
            time.sleep(seconds)

    def _respond(
        self,
        handler: _Handler,
        endpoint: str,
        req: dict[str, Any],
        name: str,
        think: bool,
        options: Mapping[str, Any],
        prompt_count: int,
        started: int,
    ) -> None:
        """Produce, shape and send (streamed or whole) the scripted reply of a chat/generate request."""
        reply = self._next_reply(endpoint, req)
        content, thinking = reply.content, reply.thinking
        match = _THINK_RE.match(content)
        if match:
            thinking = thinking or match.group(1).strip()
            content = content[match.end() :]
        if not think:
            thinking = ""
        done_reason = "stop"
        for stop in options.get("stop") or []:
            if stop and stop in content:
                content = content[: content.index(stop)]
        pieces: list[tuple[str, str]] = [("thinking", t) for t in _tokens(thinking)] + [
            ("content", t) for t in _tokens(content)
        ]
        num_predict = options.get("num_predict")
        if isinstance(num_predict, (int, float)) and num_predict > 0 and len(pieces) > int(num_predict):
            pieces = pieces[: int(num_predict)]
            done_reason = "length"
        tool_calls = (
            [] if endpoint != "/api/chat" or done_reason == "length" else self._tool_calls(reply.tool_calls)
        )
        eval_count = len(pieces) + sum(len(_tokens(json.dumps(c))) for c in tool_calls)
        failure = self._take_failure(endpoint, "mid_stream")
        stream = req.get("stream", True) is not False
        chat = endpoint == "/api/chat"

        self._sleep(self.load_delay)
        loaded = time.perf_counter_ns()
        prompt_ns = max(1, prompt_count) * 25_000

        if not stream:
            self._sleep(self.token_delay * len(pieces))
            if failure is not None:
                raise _RequestError(failure.status, failure.message)
            text = "".join(t for kind, t in pieces if kind == "content")
            thought = "".join(t for kind, t in pieces if kind == "thinking")
            finished = time.perf_counter_ns()
            metrics = _final_metrics(started, loaded, finished, prompt_count, prompt_ns, eval_count)
            if chat:
                payload = _chat_chunk(
                    name,
                    text,
                    done=True,
                    done_reason=done_reason,
                    thinking=thought,
                    tool_calls=tool_calls,
                    metrics=metrics,
                )
            else:
                payload = _generate_chunk(
                    name,
                    text,
                    done=True,
                    done_reason=done_reason,
                    thinking=thought,
                    context=_context(req, text),
                    metrics=metrics,
                )
            handler.send_json(200, payload)
            return

        if failure is not None and failure.after_tokens <= 0:
            raise _RequestError(failure.status, failure.message)
        handler.start_stream()
        for sent, (kind, token) in enumerate(pieces):
            if failure is not None and sent >= failure.after_tokens:
                handler.stream_line({"error": failure.message})
                handler.end_stream()
                return
            if sent:
                self._sleep(self.token_delay)
            if chat:
                chunk = _chat_chunk(
                    name,
                    "" if kind == "thinking" else token,
                    done=False,
                    thinking=token if kind == "thinking" else "",
                )
            else:
                chunk = _generate_chunk(
                    name,
                    "" if kind == "thinking" else token,
                    done=False,
                    thinking=token if kind == "thinking" else "",
                )
            handler.stream_line(chunk)
        if failure is not None:
            handler.stream_line({"error": failure.message})
            handler.end_stream()
            return
        if tool_calls:
            handler.stream_line(_chat_chunk(name, "", done=False, tool_calls=tool_calls))
        finished = time.perf_counter_ns()
        metrics = _final_metrics(started, loaded, finished, prompt_count, prompt_ns, eval_count)
        text = "".join(t for kind, t in pieces if kind == "content")
        if chat:
            handler.stream_line(_chat_chunk(name, "", done=True, done_reason=done_reason, metrics=metrics))
        else:
            handler.stream_line(
                _generate_chunk(
                    name,
                    "",
                    done=True,
                    done_reason=done_reason,
                    context=_context(req, text),
                    metrics=metrics,
                )
            )
        handler.end_stream()

    def _tool_calls(self, calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Render scripted tool calls as Ollama does (``id``, ``function.index``, ``name``, ``arguments``)."""
        rendered = []
        for index, call in enumerate(calls):
            function = nested if isinstance(nested := call.get("function"), Mapping) else call
            name = str(function.get("name", ""))
            arguments = dict(function.get("arguments") or {})
            seed = f"{self._call_count}:{index}:{name}".encode()
            call_id = "call_" + hashlib.sha256(seed).hexdigest()[:8]
            rendered.append(
                {"id": call_id, "function": {"index": index, "name": name, "arguments": arguments}}
            )
        return rendered

    def _embed(self, handler: _Handler, body: Any, head: bool) -> None:
        """``POST /api/embed``: one unit vector per input string."""
        started = time.perf_counter_ns()
        req = _check_body(body, "EmbedRequest")
        raw_input = req.get("input")
        if isinstance(raw_input, str):
            inputs = [raw_input] if raw_input else []
        elif isinstance(raw_input, list):
            if not all(isinstance(item, str) for item in raw_input):
                raise _RequestError(400, "invalid input type")
            inputs = list(raw_input)
        elif raw_input is None:
            inputs = []
        else:
            raise _RequestError(400, "invalid input type")
        name, spec = self._resolve_inference_model(req)
        options = _check_options(req.get("options"))
        self._touch_loaded(
            spec, _parse_keep_alive(req.get("keep_alive")), int(options.get("num_ctx") or 2048)
        )
        self._sleep(self.load_delay)
        loaded = time.perf_counter_ns()
        if not inputs:
            handler.send_json(200, {"model": name, "embeddings": []})
            return
        dimensions = int(req.get("dimensions") or 0)
        vectors = []
        for text in inputs:
            vector = embed_text(text)
            if 0 < dimensions < len(vector):
                vector = _normalize(vector[:dimensions])
            vectors.append(vector)
        prompt_count = sum(len(_tokens(text)) + 2 for text in inputs)
        finished = time.perf_counter_ns()
        payload: dict[str, Any] = {"model": name, "embeddings": vectors}
        payload.update(_metrics(max(1, finished - started), max(1, loaded - started), prompt_count, 0, 0, 0))
        handler.send_json(200, payload)

    def _embeddings(self, handler: _Handler, body: Any, head: bool) -> None:
        """Legacy ``POST /api/embeddings``: ``prompt`` -> ``embedding`` (an empty prompt only loads)."""
        req = _check_body(body, "EmbeddingRequest")
        _name, spec = self._resolve_inference_model(req)
        options = _check_options(req.get("options"))
        self._touch_loaded(
            spec, _parse_keep_alive(req.get("keep_alive")), int(options.get("num_ctx") or 2048)
        )
        self._sleep(self.load_delay)
        prompt = req.get("prompt") or ""
        handler.send_json(200, {"embedding": embed_text(prompt) if prompt else []})
