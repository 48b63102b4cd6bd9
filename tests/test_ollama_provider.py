"""The Ollama provider and the Ollama answer path, driving the unmodified official client against the wire server.

One test at the end runs only when a real Ollama is reachable at OLLAMA_HOST.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hololoom_core.clock import SteppingClock
from hololoom_core.config import Config, LlmConfig
from hololoom_core.engine import Engine
from hololoom_core.events import AnswerDelta, StatusChanged
from hololoom_core.llm.base import AnswerRequest
from hololoom_core.llm.ollama_provider import OllamaError, OllamaProvider
from hololoom_core.testing.ollama_server import EMBEDDING_DIM, OllamaWireServer

MODEL_ANSWER = """### PLAN
1. Use the disk-full runbook [S1].
2. Find what grew, free space, then verify.

### ANSWER
The volume on db-01 is full [S1].
1. Find the full filesystem: `df -hT`
2. Find what grew: `sudo du -xh --max-depth=2 /var | sort -rh | head -20`
3. Vacuum the journal: `sudo journalctl --vacuum-size=500M`
4. Wipe the cache: `sudo rm -rf /var/cache/scratch/*`

### VERIFY
1. `df -h` shows usage below 80%.
2. No new ENOSPC lines in the logs.

**TL;DR:** db-01's disk is full; find what grew with du and vacuum the journal."""

CRITERIA = ("structure", "grounded", "actionable", "concise", "safe")


def verdict_json(score: float = 0.9) -> str:
    return json.dumps({name: {"score": score, "reason": f"model says {name} is {score}"} for name in CRITERIA})


class Script:
    """A responder: answers from a queue (or MODEL_ANSWER), and JSON for judge, comparison and claim checks."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.verdicts: list[str] = []
        self.winners: list[str] = []

    def __call__(self, endpoint: str, request: dict[str, Any]) -> str:
        schema = request.get("format")
        if isinstance(schema, dict):
            properties = schema.get("properties", {})
            if "unsupported" in properties:
                return json.dumps({"unsupported": []})
            if "winner" in properties:
                winner = self.winners.pop(0) if self.winners else "tie"
                return json.dumps({"winner": winner, "reason": f"{winner} reads better"})
            return self.verdicts.pop(0) if self.verdicts else verdict_json()
        return self.answers.pop(0) if self.answers else MODEL_ANSWER


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def wire(script: Script) -> Iterator[OllamaWireServer]:
    """An Ollama-wire-compatible server on a free port, answering from the script."""
    with OllamaWireServer(responder=script) as server:
        yield server


def llm_config(server: OllamaWireServer, **overrides: Any) -> LlmConfig:
    return LlmConfig(provider="ollama", host=server.url, **overrides)


def make_engine(tmp_path: Path, host: str, **promptly: Any) -> Engine:
    config = Config.model_validate({
        "hololoom": {"data_dir": str(tmp_path)},
        "llm": {"provider": "ollama", "host": host, "connect_timeout_s": 1, "timeout_s": 10},
        "promptly": promptly,
    })
    return Engine(config, clock=SteppingClock())


# -- the provider --------------------------------------------------------------------------------------


async def test_chat_streams_chunks_in_order(wire: OllamaWireServer, script: Script) -> None:
    provider = OllamaProvider(llm_config(wire, temperature=0.3))
    pieces: list[str] = []
    text = await provider.chat([{"role": "user", "content": "disk full?"}], on_delta=pieces.append)
    assert text == MODEL_ANSWER and "".join(pieces) == MODEL_ANSWER and len(pieces) > 20
    body = wire.requests_to("/api/chat")[-1]
    assert body["stream"] is True and body["model"] == "llama3.2" and body["options"] == {"temperature": 0.3}
    await provider.close()


async def test_async_delta_callbacks_are_awaited(wire: OllamaWireServer) -> None:
    provider = OllamaProvider(llm_config(wire))
    seen: list[str] = []

    async def on_delta(text: str) -> None:
        seen.append(text)

    assert await provider.answer(AnswerRequest("q", [], messages=[{"role": "user", "content": "hi"}]), on_delta) \
        == MODEL_ANSWER
    assert "".join(seen) == MODEL_ANSWER
    assert wire.requests_to("/api/chat")[-1]["messages"] == [{"role": "user", "content": "hi"}]
    await provider.close()


async def test_answer_without_messages_renders_the_shipped_spec(wire: OllamaWireServer) -> None:
    provider = OllamaProvider(llm_config(wire))
    await provider.answer(AnswerRequest("why is disk full?", []))
    messages = wire.requests_to("/api/chat")[-1]["messages"]
    assert messages[0]["role"] == "system" and "Question: why is disk full?" in messages[1]["content"]
    await provider.close()


async def test_embeddings_and_model_listing(wire: OllamaWireServer) -> None:
    provider = OllamaProvider(llm_config(wire))
    vectors = await provider.embed(["disk full on db-01", "db-01 disk is full", "certificate expired"])
    assert len(vectors) == 3 and all(len(v) == EMBEDDING_DIM for v in vectors)
    close = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    far = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert close > far
    assert wire.requests_to("/api/embed")[-1]["model"] == "all-minilm"
    assert await provider.embed([]) == []
    names = {m.name for m in await provider.list_models()}
    assert names == {"llama3.2:latest", "all-minilm:latest"}
    status = await provider.status()
    assert status.available and "model llama3.2" in status.detail
    await provider.close()


async def test_missing_model_is_a_clear_status_and_error(wire: OllamaWireServer) -> None:
    provider = OllamaProvider(llm_config(wire, model="mistral"))
    status = await provider.status()
    assert not status.available and "model 'mistral' is not installed (run: ollama pull mistral)" in status.detail
    with pytest.raises(OllamaError, match=r"model 'mistral' is not installed \(run: ollama pull mistral\)"):
        await provider.chat([{"role": "user", "content": "hi"}])
    with pytest.raises(OllamaError, match="not installed"):
        await provider.chat([{"role": "user", "content": "hi"}], on_delta=lambda text: None)
    await provider.close()


async def test_server_down_is_caught_for_plain_and_streaming_calls(tmp_path: Path) -> None:
    server = OllamaWireServer().start()
    url = server.url
    server.stop()
    provider = OllamaProvider(LlmConfig(provider="ollama", host=url, connect_timeout_s=1))
    for on_delta in (None, lambda text: None):  # ConnectionError (plain) and httpx.ConnectError (stream)
        with pytest.raises(OllamaError) as caught:
            await provider.chat([{"role": "user", "content": "hi"}], on_delta=on_delta)
        assert caught.value.unreachable and str(caught.value) == (
            f"ollama at {url} is unreachable (is `ollama serve` running? set llm.host or OLLAMA_HOST)")
    with pytest.raises(OllamaError, match="unreachable"):
        await provider.embed(["x"])
    status = await provider.status()
    assert not status.available and "unreachable" in status.detail


async def test_http_and_mid_stream_errors_become_one_line(wire: OllamaWireServer) -> None:
    provider = OllamaProvider(llm_config(wire))
    wire.fail_next(500, "model runner crashed", endpoint="/api/chat")
    with pytest.raises(OllamaError, match="chat failed with HTTP 500: model runner crashed"):
        await provider.chat([{"role": "user", "content": "hi"}], on_delta=lambda text: None)
    wire.fail_mid_stream("out of memory", after_tokens=3)
    pieces: list[str] = []
    with pytest.raises(OllamaError, match="out of memory"):
        await provider.chat([{"role": "user", "content": "hi"}], on_delta=pieces.append)
    assert len(pieces) == 3
    await provider.close()


async def test_slow_model_times_out_with_the_setting_named(script: Script) -> None:
    with OllamaWireServer(responder=script, load_delay=1.0) as server:
        provider = OllamaProvider(llm_config(server, timeout_s=0.3))
        with pytest.raises(OllamaError, match=r"timed out waiting for the model after 0.3 s \(raise llm.timeout_s\?\)"):
            await provider.chat([{"role": "user", "content": "hi"}])
        await provider.close()


# -- the answer path with provider = ollama ------------------------------------------------------------


async def test_answer_path_end_to_end_with_streaming_and_model_judge(tmp_path: Path, wire: OllamaWireServer) -> None:
    engine = make_engine(tmp_path, wire.url)
    deltas: list[AnswerDelta] = []
    engine.bus.subscribe(lambda e: deltas.append(e) if isinstance(e, AnswerDelta) else None)
    await engine.start()
    assert engine.status["llm"]["state"] == "ok"
    answer = await engine.ask("db-01 says no space left on device", room_id="#ops", asker="alice")

    assert answer.provider == "ollama"
    assert answer.sections["ANSWER"].startswith("The volume on db-01 is full [S1].")
    assert answer.sections["TL;DR"] == "db-01's disk is full; find what grew with du and vacuum the journal."
    assert "".join(d.text for d in deltas) == MODEL_ANSWER and all(d.room_id == "#ops" for d in deltas)

    steps = {step["step"]: step for step in answer.loop_steps}
    assert steps["generate"]["provider"] == "ollama" and steps["generate"]["streamed_chunks"] == len(deltas)
    assert answer.verdict.judge == "llm:llama3.2" and answer.quality == pytest.approx(0.9)
    assert {c.name: c.reason for c in answer.verdict.criteria}["grounded"] == "model says grounded is 0.9"
    # verify: the invented `rm -rf` under /var/cache is in no source, so VERIFY now says so
    assert "sudo rm -rf /var/cache/scratch/*" in steps["verify"]["unsupported_commands"]
    assert "appear in none of the retrieved sources" in answer.sections["VERIFY"]

    chat = wire.requests_to("/api/chat")
    prompt = chat[0]["messages"][1]["content"]
    assert "Question: db-01 says no space left on device" in prompt and "[S1] (runbook, `disk-full`" in prompt
    judge_call = next(body for body in chat if isinstance(body.get("format"), dict))
    assert judge_call["options"]["temperature"] == 0.0 and judge_call["stream"] is False
    await engine.close()


async def test_judge_model_can_differ_from_the_answering_model(tmp_path: Path, wire: OllamaWireServer) -> None:
    wire.add_model("qwen2.5:7b")
    config = Config.model_validate({
        "hololoom": {"data_dir": str(tmp_path)},
        "llm": {"provider": "ollama", "host": wire.url, "judge_model": "qwen2.5:7b"},
    })
    engine = Engine(config, clock=SteppingClock())
    answer = await engine.ask("disk full on db-01", asker="a")
    models = [(body["model"], isinstance(body.get("format"), dict)) for body in wire.requests_to("/api/chat")]
    assert ("llama3.2", False) in models and ("qwen2.5:7b", True) in models
    assert answer.verdict.judge == "llm:qwen2.5:7b"
    await engine.close()


async def test_malformed_answer_is_retried_then_repaired(tmp_path: Path, wire: OllamaWireServer, script: Script) -> None:
    script.answers = ["Just restart it with `systemctl restart web`.", MODEL_ANSWER.replace("**TL;DR:**", "Summary:")]
    engine = make_engine(tmp_path, wire.url)
    answer = await engine.ask("web is down", asker="a")
    kinds = [step["step"] for step in answer.loop_steps]
    assert kinds[:6] == ["predict", "loop", "generate", "retry", "repair", "judge"]
    assert answer.loop_steps[3]["missing"] == ["PLAN", "VERIFY"]
    assert "heading 'Summary' read as TL;DR" in answer.loop_steps[4]["actions"]
    assert answer.provider == "ollama" and answer.sections["PLAN"].startswith("1. Use the disk-full runbook")
    retry_prompt = wire.requests_to("/api/chat")[1]["messages"][1]["content"]
    assert "missing these sections: PLAN, VERIFY" in retry_prompt and "systemctl restart web" in retry_prompt
    await engine.close()


async def test_still_malformed_falls_back_to_offline_and_says_so(tmp_path: Path, wire: OllamaWireServer,
                                                                 script: Script) -> None:
    script.answers = ["no structure here", "still none"]
    engine = make_engine(tmp_path, wire.url)
    answer = await engine.ask("disk full on db-01", asker="a")
    assert answer.provider == "offline"
    fallback = next(step for step in answer.loop_steps if step["step"] == "fallback")
    assert fallback["reason"] == "still missing PLAN, VERIFY after 1 retry(ies)"
    assert "_ollama's answer was malformed (missing PLAN, VERIFY); the offline engine answered._" in answer.markdown
    assert answer.sections["PLAN"] and answer.sections["TL;DR"]  # never shown broken
    await engine.close()


async def test_model_judge_malformed_twice_falls_back_and_is_recorded(tmp_path: Path, wire: OllamaWireServer,
                                                                      script: Script) -> None:
    script.verdicts = ["{\"structure\": 1}", "not json"]
    engine = make_engine(tmp_path, wire.url, loop="generate -> judge")
    answer = await engine.ask("disk full on db-01", asker="a")
    judge = next(step for step in answer.loop_steps if step["step"] == "judge")
    assert judge["judge"] == "heuristic" and judge["attempts"] == 2
    assert judge["fallback"].startswith("malformed verdict twice")
    assert answer.verdict.judge == "heuristic"
    await engine.close()


async def test_refine_asks_the_model_to_revise_and_compares_in_both_orders(
    tmp_path: Path, wire: OllamaWireServer, script: Script
) -> None:
    revised = MODEL_ANSWER.replace("The volume on db-01 is full [S1].", "The volume on db-01 is full of WAL [S1].")
    script.answers = [MODEL_ANSWER, revised]
    script.verdicts = [verdict_json(0.5), verdict_json(0.95)]
    script.winners = ["B", "A"]  # the revision wins in both orders
    engine = make_engine(tmp_path, wire.url, loop="generate -> judge -> refine until quality >= 0.8 max 2")
    answer = await engine.ask("disk full on db-01", asker="a")
    refine = [step for step in answer.loop_steps if step["step"] == "refine"]
    assert refine[0]["strategy"] == "revise" and refine[0]["kept"] == "refined"
    assert refine[0]["preference"] == {"winner": "B", "votes": ["B", "B"], "judge": "llm:llama3.2",
                                       "reason": "B reads better"}
    assert refine[1]["status"] == "done"
    assert "full of WAL" in answer.sections["ANSWER"] and answer.quality == pytest.approx(0.95)
    revise_prompt = wire.requests_to("/api/chat")[2]["messages"][1]["content"]
    assert "grounded scored 0.50: model says grounded is 0.5" in revise_prompt
    await engine.close()


async def test_chaining_asks_for_the_plan_first(tmp_path: Path, wire: OllamaWireServer, script: Script) -> None:
    script.answers = ["### PLAN\n1. Check the disk runbook first.", MODEL_ANSWER]
    spec = tmp_path / "spec.yaml"
    spec.write_text("options: {chaining: true}\n", encoding="utf-8")
    engine = make_engine(tmp_path, wire.url, spec=str(spec), loop="generate -> judge")
    answer = await engine.ask("disk full on db-01", asker="a")
    first, second = wire.requests_to("/api/chat")[:2]
    assert "Write only the PLAN section now." in first["messages"][1]["content"]
    assert "### ANSWER" not in first["messages"][1]["content"]
    assert "Your PLAN for this question:\n1. Check the disk runbook first." in second["messages"][1]["content"]
    assert answer.loop_steps[2]["chaining"] == "plan first, then the answer"
    await engine.close()


async def test_model_down_answers_offline_says_so_and_stops_waiting(tmp_path: Path) -> None:
    server = OllamaWireServer().start()
    url = server.url
    server.stop()
    engine = make_engine(tmp_path, url)
    statuses: list[StatusChanged] = []
    engine.bus.subscribe(lambda e: statuses.append(e) if isinstance(e, StatusChanged) else None)
    await engine.start()
    assert engine.status["llm"]["state"] == "down" and "unreachable" in engine.status["llm"]["detail"]
    first = await engine.ask("disk full on db-01", asker="a")
    assert first.provider == "offline" and first.sections["ANSWER"]
    assert f"_ollama at {url} is unreachable" in first.markdown and "the offline engine answered._" in first.markdown
    assert first.loop_steps[2]["error"].startswith(f"ollama at {url} is unreachable")
    judge = next(step for step in first.loop_steps if step["step"] == "judge")
    assert judge["judge"] == "heuristic" and "judge model is down" in judge["fallback"]
    second = await engine.ask("disk full on db-02", asker="b")
    assert second.loop_steps[2]["status"] == "skipped" and "tried again after 30 s" in second.loop_steps[2]["reason"]
    await engine.close()


async def test_model_recovery_is_noticed(tmp_path: Path, script: Script) -> None:
    server = OllamaWireServer(responder=script).start()
    port = server.port
    server.stop()
    engine = make_engine(tmp_path, f"http://127.0.0.1:{port}")
    await engine.start()
    assert engine.status["llm"]["state"] == "down"
    with OllamaWireServer(responder=script, port=port):
        answer = await engine.ask("disk full on db-01", asker="a")
        assert answer.provider == "ollama" and engine.status["llm"]["state"] == "ok"
    await engine.close()


# -- a real Ollama, when there is one -------------------------------------------------------------------


def _real_ollama() -> str | None:
    host = os.environ.get("OLLAMA_HOST")
    if not host:
        return None
    url = host if host.startswith("http") else f"http://{host}"
    try:
        httpx.get(url, timeout=2.0).raise_for_status()
    except httpx.HTTPError:
        return None
    return url


@pytest.mark.skipif(_real_ollama() is None, reason="no real Ollama reachable at OLLAMA_HOST")
async def test_real_ollama_answers_in_the_ultraprompt_structure(tmp_path: Path) -> None:
    url = _real_ollama()
    assert url is not None
    model = os.environ.get("HOLOLOOM_TEST_MODEL", "llama3.2")
    config = Config.model_validate({
        "hololoom": {"data_dir": str(tmp_path)},
        "llm": {"provider": "ollama", "host": url, "model": model, "timeout_s": 300},
        "promptly": {"loop": "generate -> judge"},
    })
    engine = Engine(config)
    status = await engine.provider.status()
    if not status.available:
        pytest.skip(status.detail)
    answer = await engine.ask("The disk on db-01 is full: no space left on device. What should I do?", asker="t")
    assert answer.sections["ANSWER"].strip() and answer.sections["TL;DR"].strip()
    assert 0.0 <= answer.quality <= 1.0
    await engine.close()
