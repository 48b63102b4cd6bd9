"""Drive the unmodified official ``ollama`` client (sync and async) against ``OllamaWireServer``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest

from hololoom_core.testing.ollama_server import (
    EMBEDDING_DIM,
    ModelSpec,
    OllamaWireServer,
    ScriptedReply,
    default_responder,
    embed_text,
    normalize_model_name,
)

FIXED_REPLY = "The web tier was restarted on all three nodes and health checks pass."
USER_MSG = [{"role": "user", "content": "please restart the web tier"}]


@pytest.fixture
def server() -> Iterator[OllamaWireServer]:
    """A fresh server with the default models (llama3.2, all-minilm)."""
    with OllamaWireServer() as srv:
        yield srv


@pytest.fixture
def client(server: OllamaWireServer) -> Iterator[ollama.Client]:
    """An unmodified ``ollama.Client`` pointed at the server."""
    with ollama.Client(host=server.url) as cli:
        yield cli


def _fixed(endpoint: str, request: dict[str, Any]) -> str:
    """Responder that always answers the same sentence."""
    return FIXED_REPLY


def _norm(vector: list[float] | Any) -> float:
    """Euclidean norm."""
    return math.sqrt(sum(v * v for v in vector))


def _cos(a: Any, b: Any) -> float:
    """Cosine similarity of two unit vectors."""
    return sum(x * y for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- chat


def test_chat_non_streaming(server: OllamaWireServer, client: ollama.Client) -> None:
    """A non-streaming chat returns the whole default reply with stats; the request body is recorded."""
    resp = client.chat(model="llama3.2", messages=USER_MSG, options={"temperature": 0.2}, keep_alive="10m")
    assert resp.model == "llama3.2"
    assert resp.message.role == "assistant"
    assert resp.message.content == default_responder("/api/chat", {"messages": USER_MSG})
    assert '"please restart the web tier"' in resp.message.content
    assert resp.done is True and resp.done_reason == "stop"
    assert resp.created_at and resp.created_at.endswith("Z")
    for stat in (
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ):
        assert isinstance(getattr(resp, stat), int) and getattr(resp, stat) > 0, stat
    body = server.requests[-1]
    assert body["stream"] is False and body["options"] == {"temperature": 0.2} and body["keep_alive"] == "10m"
    assert body["messages"] == USER_MSG


def test_chat_streaming_chunks_concatenate(server: OllamaWireServer, client: ollama.Client) -> None:
    """Streaming yields a chunk per word; they concatenate to the full reply; the last one has stats."""
    server.responder = _fixed
    chunks = list(client.chat(model="llama3.2", messages=USER_MSG, stream=True))
    assert len(chunks) >= 5
    body, last = chunks[:-1], chunks[-1]
    assert all(c.done is False and c.done_reason is None and c.eval_count is None for c in body)
    assert "".join(c.message.content or "" for c in chunks) == FIXED_REPLY
    assert last.done is True and last.done_reason == "stop" and last.message.content == ""
    assert last.eval_count == len(body) and last.prompt_eval_count and last.total_duration
    assert client.chat(model="llama3.2", messages=USER_MSG).message.content == FIXED_REPLY


def test_streaming_token_delay_is_incremental() -> None:
    """With a per-token delay the first chunk arrives well before the last one."""
    with (
        OllamaWireServer(responder=lambda e, r: "one two three four five six", token_delay=0.03) as srv,
        ollama.Client(host=srv.url) as cli,
    ):
        start = time.perf_counter()
        arrivals = [
            time.perf_counter() - start for _ in cli.chat(model="llama3.2", messages=USER_MSG, stream=True)
        ]
    assert len(arrivals) == 7
    assert arrivals[-1] - arrivals[0] >= 5 * 0.03 * 0.9
    assert arrivals[0] < arrivals[-1] / 2


def test_chat_format_json_and_options(server: OllamaWireServer, client: ollama.Client) -> None:
    """``format`` makes the default responder answer JSON; ``num_predict`` and ``stop`` are honoured."""
    resp = client.chat(model="llama3.2", messages=USER_MSG, format="json")
    assert resp.message.content is not None
    assert json.loads(resp.message.content)["words"] == 5
    schema = {"type": "object", "properties": {"reply": {"type": "string"}}}
    shaped = client.chat(model="llama3.2", messages=USER_MSG, format=schema).message.content
    assert shaped is not None
    assert "reply" in json.loads(shaped)
    assert server.requests[-1]["format"] == schema

    server.responder = _fixed
    short = client.chat(model="llama3.2", messages=USER_MSG, options={"num_predict": 3})
    assert short.message.content == "The web tier" and short.done_reason == "length" and short.eval_count == 3
    stopped = client.chat(model="llama3.2", messages=USER_MSG, options={"stop": [" on all"]})
    assert stopped.message.content == "The web tier was restarted" and stopped.done_reason == "stop"
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama3.2", messages=USER_MSG, options={"num_predict": "many"})
    assert (
        info.value.status_code == 500 and info.value.error == 'option "num_predict" must be of type integer'
    )


def test_chat_thinking_and_tool_calls() -> None:
    """Thinking models split ``<think>`` replies; scripted tool calls come back as ``message.tool_calls``."""
    models = [ModelSpec.chat("qwen3:8b", thinking=True), ModelSpec.chat("tiny", tools=False)]
    with (
        OllamaWireServer(models=models, responder=lambda e, r: "<think>check the tier</think>Done.") as srv,
        ollama.Client(host=srv.url) as cli,
    ):
        resp = cli.chat(model="qwen3:8b", messages=USER_MSG)
        assert resp.message.thinking == "check the tier" and resp.message.content == "Done."
        assert cli.chat(model="qwen3:8b", messages=USER_MSG, think=False).message.thinking is None
        chunks = list(cli.chat(model="qwen3:8b", messages=USER_MSG, stream=True))
        assert "".join(c.message.thinking or "" for c in chunks) == "check the tier"
        assert "".join(c.message.content or "" for c in chunks) == "Done."

        with pytest.raises(ollama.ResponseError) as info:
            cli.chat(model="tiny", messages=USER_MSG, think=True)
        assert (info.value.status_code, info.value.error) == (400, '"tiny" does not support thinking')
        tools = [{"type": "function", "function": {"name": "restart_service", "description": "Restart."}}]
        with pytest.raises(ollama.ResponseError) as info:
            cli.chat(model="tiny", messages=USER_MSG, tools=tools)
        assert info.value.error == "registry.ollama.ai/library/tiny:latest does not support tools"

        srv.queue_replies(
            ScriptedReply(tool_calls=[{"name": "restart_service", "arguments": {"service": "web"}}])
        )
        call = cli.chat(model="qwen3:8b", messages=USER_MSG, tools=tools, think=False).message.tool_calls
        assert call is not None and call[0].function.name == "restart_service"
        assert call[0].function.arguments == {"service": "web"}
        assert srv.requests[-1]["tools"][0]["function"]["name"] == "restart_service"


def test_chat_load_unload_and_ps(server: OllamaWireServer, client: ollama.Client) -> None:
    """An empty chat loads the model (``/api/ps`` lists it); ``keep_alive=0`` unloads it."""
    assert client.ps().models == []
    loaded = client.chat(model="llama3.2", messages=[])
    assert loaded.done_reason == "load" and loaded.message.content == ""
    [entry] = client.ps().models
    assert entry.model == "llama3.2:latest" and entry.expires_at is not None and entry.size_vram
    assert client.chat(model="llama3.2", messages=[], keep_alive=0).done_reason == "unload"
    assert client.ps().models == []
    assert client.generate(model="llama3.2", keep_alive=-1).done_reason == "load"
    assert server.loaded_models() == ["llama3.2:latest"]


# --------------------------------------------------------------------------- generate


def test_generate_both_ways(server: OllamaWireServer, client: ollama.Client) -> None:
    """``generate`` streams ``response`` fragments and returns ``context`` on the final object."""
    server.responder = _fixed
    whole = client.generate(model="llama3.2", prompt="status of web?", system="You are terse.")
    assert whole.response == FIXED_REPLY and whole.done is True and whole.done_reason == "stop"
    assert whole.context and all(isinstance(t, int) for t in whole.context) and whole.eval_count
    chunks = list(client.generate(model="llama3.2", prompt="status of web?", stream=True))
    assert len(chunks) > 3 and "".join(c.response or "" for c in chunks) == FIXED_REPLY
    assert chunks[-1].done is True and chunks[-1].context and chunks[-1].eval_count == len(chunks) - 1
    assert all(c.context is None for c in chunks[:-1])
    assert server.requests_to("/api/generate")[0]["system"] == "You are terse."
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model="llama3.2", prompt="x", raw=True, system="s")
    assert info.value.status_code == 400


# --------------------------------------------------------------------------- embeddings


def test_embed_single_and_batch(client: ollama.Client) -> None:
    """``embed`` returns one 384-d unit vector per input, deterministic and word-sensitive."""
    single = client.embed(model="all-minilm", input="restart the web tier")
    assert len(single.embeddings) == 1 and len(single.embeddings[0]) == EMBEDDING_DIM
    assert abs(_norm(single.embeddings[0]) - 1.0) < 1e-9 and single.prompt_eval_count
    texts = ["restart the web tier", "restart web servers", "bake a chocolate cake"]
    batch = client.embed(model="all-minilm", input=texts)
    assert [len(v) for v in batch.embeddings] == [EMBEDDING_DIM] * 3
    assert list(batch.embeddings[0]) == list(single.embeddings[0]) == embed_text(texts[0])
    assert _cos(batch.embeddings[0], batch.embeddings[1]) > _cos(batch.embeddings[0], batch.embeddings[2])
    small = client.embed(model="all-minilm", input="x y", dimensions=64)
    assert len(small.embeddings[0]) == 64 and abs(_norm(small.embeddings[0]) - 1.0) < 1e-9
    assert client.embed(model="llama3.2", input="generative models embed too").embeddings
    legacy = client.embeddings(model="all-minilm", prompt="restart the web tier")
    assert list(legacy.embedding) == embed_text("restart the web tier")


def test_embedding_model_cannot_chat(client: ollama.Client) -> None:
    """Chatting with an embedding-only model is a 400 like Ollama's."""
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="all-minilm", messages=USER_MSG)
    assert (info.value.status_code, info.value.error) == (400, '"all-minilm" does not support chat')


# --------------------------------------------------------------------------- listing


def test_list_show_version(server: OllamaWireServer, client: ollama.Client) -> None:
    """``list`` and ``show`` parse into the client's models; ``/`` and ``/api/version`` answer like Ollama."""
    names = [m.model for m in client.list().models]
    assert names == ["llama3.2:latest", "all-minilm:latest"]
    first = client.list().models[0]
    assert first.digest and len(first.digest) == 64 and first.size and first.modified_at is not None
    assert (
        first.details is not None
        and first.details.family == "llama"
        and first.details.quantization_level == "Q4_K_M"
    )

    shown = client.show("llama3.2")
    assert shown.capabilities == ["completion", "tools"]
    assert shown.modelfile and shown.modelfile.startswith('# Modelfile generated by "ollama show"')
    assert shown.template and "stop" in (shown.parameters or "")
    assert shown.modelinfo and shown.modelinfo["general.architecture"] == "llama"
    assert shown.details is not None and shown.details.parameter_size == "3.2B"
    assert client.show("all-minilm").capabilities == ["embedding"]

    server.add_model("mistral:7b")
    assert "mistral:7b" in [m.model for m in client.list().models]
    server.remove_model("mistral:7b")
    assert normalize_model_name("registry.ollama.ai/library/llama3.2") == "llama3.2:latest"

    root = httpx.get(server.url)
    assert (root.status_code, root.text) == (200, "Ollama is running")
    assert httpx.get(f"{server.url}/api/version").json() == {"version": server.version}


# --------------------------------------------------------------------------- errors


def test_unknown_model_is_404(client: ollama.Client) -> None:
    """Unknown models raise ``ResponseError`` 404 with Ollama's message, streaming or not."""
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="nope", messages=USER_MSG)
    assert info.value.status_code == 404
    assert info.value.error == 'model "nope" not found, try pulling it first'
    with pytest.raises(ollama.ResponseError) as info:
        list(client.chat(model="nope", messages=USER_MSG, stream=True))
    assert info.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model="nope", input="x")
    assert info.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as info:
        client.show("nope")
    assert (info.value.status_code, info.value.error) == (404, "model 'nope' not found")


def test_scripted_failures(server: OllamaWireServer, client: ollama.Client) -> None:
    """``fail_next`` answers a status; ``fail_mid_stream`` breaks a stream after some chunks."""
    server.fail_next(
        503, "server busy, please try again.  maximum pending requests exceeded", endpoint="/api/chat"
    )
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama3.2", messages=USER_MSG)
    assert info.value.status_code == 503 and info.value.error.startswith("server busy")
    assert client.chat(model="llama3.2", messages=USER_MSG).done is True  # consumed

    server.fail_mid_stream("llama runner process has terminated", after_tokens=2)
    received: list[str] = []
    with pytest.raises(ollama.ResponseError) as info:
        for chunk in client.chat(model="llama3.2", messages=USER_MSG, stream=True):
            received.append(chunk.message.content or "")
    assert len(received) == 2
    assert info.value.error == "llama runner process has terminated" and info.value.status_code == -1

    server.fail_mid_stream("model failed to load", after_tokens=0)
    with pytest.raises(ollama.ResponseError) as info:
        list(client.generate(model="llama3.2", prompt="x", stream=True))
    assert (info.value.status_code, info.value.error) == (500, "model failed to load")


def test_raw_wire_format(server: OllamaWireServer) -> None:
    """Checks below the client: NDJSON framing, default streaming, Go-style 4xx bodies."""
    with httpx.Client(base_url=server.url) as http:
        resp = http.post("/api/chat", json={"model": "llama3.2", "messages": USER_MSG})  # stream omitted
        assert resp.headers["content-type"] == "application/x-ndjson"
        lines = resp.text.split("\n")
        assert lines[-1] == "" and all(
            line for line in lines[:-1]
        )  # no blank lines: the client json.loads each
        objects = [json.loads(line) for line in lines[:-1]]
        assert objects[0].keys() == {"model", "created_at", "message", "done"}
        assert objects[-1]["done"] is True and "eval_count" in objects[-1]
        whole = http.post("/api/generate", json={"model": "llama3.2", "prompt": "x", "stream": False})
        assert whole.headers["content-type"].startswith("application/json")

        assert http.post("/api/chat").json() == {"error": "missing request body"}
        assert http.post("/api/chat", content=b"{oops").status_code == 400
        bad = http.post("/api/chat", json={"model": "llama3.2", "messages": "hi"})
        assert bad.status_code == 400 and "cannot unmarshal string" in bad.json()["error"]
        assert http.post("/api/chat", json={"messages": USER_MSG}).json() == {"error": "model is required"}
        assert http.post("/api/chat", json={"model": "llama3.2", "keep_alive": "soon"}).json() == {
            "error": 'time: invalid duration "soon"'
        }
        assert (http.get("/api/nowhere").status_code, http.get("/api/nowhere").text) == (
            404,
            "404 page not found",
        )
        assert http.get("/api/chat").status_code == 405
        pull = http.post("/api/pull", json={"model": "llama3.2"})
        assert pull.status_code == 501 and "error" in pull.json()
        assert http.post("/api/blobs/sha256:abc", content=b"x").status_code == 501
        head = http.head("/api/blobs/sha256:abc")
        assert head.status_code == 501 and head.content == b""
        assert http.get("/api/version").status_code == 200  # keep-alive connection still in sync


# --------------------------------------------------------------------------- server down


def test_server_down_errors_and_restart() -> None:
    """A stopped server refuses connections: ConnectionError, or httpx.ConnectError when streaming."""
    srv = OllamaWireServer().start()
    with ollama.Client(host=srv.url) as cli:
        assert cli.chat(model="llama3.2", messages=USER_MSG).done  # leaves a pooled keep-alive connection
        srv.stop()
        with pytest.raises(ConnectionError, match="Failed to connect to Ollama"):
            cli.chat(model="llama3.2", messages=USER_MSG)
        with pytest.raises(ConnectionError):
            cli.list()
        stream = cli.chat(model="llama3.2", messages=USER_MSG, stream=True)  # lazy: no I/O yet
        with pytest.raises(httpx.ConnectError):
            next(iter(stream))
        srv.start()  # same port again
        try:
            assert cli.chat(model="llama3.2", messages=USER_MSG).done
        finally:
            srv.stop()


# --------------------------------------------------------------------------- async


@pytest.mark.asyncio
async def test_async_client_chat_embed_and_errors() -> None:
    """``ollama.AsyncClient`` works against the threaded server from inside an event loop."""
    async with OllamaWireServer(responder=_fixed) as srv:
        cli = ollama.AsyncClient(host=srv.url)
        try:
            resp = await cli.chat(model="llama3.2", messages=USER_MSG)
            assert resp.message.content == FIXED_REPLY and resp.eval_count
            parts = [c async for c in await cli.chat(model="llama3.2", messages=USER_MSG, stream=True)]
            assert len(parts) > 3 and "".join(p.message.content or "" for p in parts) == FIXED_REPLY
            assert parts[-1].done is True and parts[-1].eval_count == len(parts) - 1
            gen = [c async for c in await cli.generate(model="llama3.2", prompt="hi", stream=True)]
            assert "".join(c.response or "" for c in gen) == FIXED_REPLY
            emb = await cli.embed(model="all-minilm", input=["a", "b"])
            assert [len(v) for v in emb.embeddings] == [EMBEDDING_DIM, EMBEDDING_DIM]
            assert (await cli.list()).models[0].model == "llama3.2:latest"
            with pytest.raises(ollama.ResponseError) as info:
                await cli.chat(model="nope", messages=USER_MSG)
            assert info.value.status_code == 404
            srv.fail_mid_stream("boom", after_tokens=1)
            with pytest.raises(ollama.ResponseError, match="boom"):
                async for _ in await cli.chat(model="llama3.2", messages=USER_MSG, stream=True):
                    pass
        finally:
            await cli.close()
    down = ollama.AsyncClient(host=srv.url)
    try:
        with pytest.raises(ConnectionError):
            await down.chat(model="llama3.2", messages=USER_MSG)
        with pytest.raises(httpx.ConnectError):
            async for _ in await down.chat(model="llama3.2", messages=USER_MSG, stream=True):
                pass
    finally:
        await down.close()
