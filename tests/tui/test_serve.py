"""`hololoom-tui serve` in a real browser: headless Chromium opens it, the Chat tab renders and answers."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.cdp import Browser, chromium_binary

# Every websocket frame the page receives (the app's terminal output), kept as text for the test to read:
# xterm.js draws on a canvas, so the screen's text is not in the DOM.
RECORD_FRAMES = """
(() => {
  window.__frames = [];
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener("message", async (event) => {
      const data = event.data;
      if (typeof data === "string") { window.__frames.push(data); return; }
      const buffer = data instanceof Blob ? await data.arrayBuffer() : data;
      window.__frames.push(new TextDecoder("utf-8", {fatal: false}).decode(buffer));
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();
"""
RECEIVED = "window.__frames ? window.__frames.join('').replace(/\\x1b\\[[0-9;?]*[A-Za-z]/g, '') : ''"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (apt-get install chromium): the browser test cannot run")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return binary


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "TEXTUAL_ANIMATIONS": "none"}
    server = subprocess.Popen([sys.executable, "-m", "hololoom_tui", "serve", "--port", str(port), "--data-dir",
                               str(data)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                assert response.status == 200
                break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                error = server.stderr.read().decode(errors="replace") if server.stderr else ""
                raise AssertionError(f"hololoom-tui serve did not start: {error}")
            time.sleep(0.2)
    try:
        yield url, data
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def test_serve_listens_on_loopback_only_by_default() -> None:
    from hololoom_tui.main import build_serve_parser

    args = build_serve_parser().parse_args([])
    assert args.host == "127.0.0.1"
    assert "NO authentication" in build_serve_parser().description  # type: ignore[operator]


async def _wait_text(browser: Browser, needle: str, timeout: float = 40.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = str(await browser.evaluate(RECEIVED) or "")
        if needle in text:
            return text
        await asyncio.sleep(0.3)
    raise AssertionError(f"{needle!r} never reached the browser; received {len(text)} characters")


async def test_the_chat_tab_renders_and_answers_in_headless_chromium(
    chromium: str, served: tuple[str, Path], tmp_path: Path
) -> None:
    url, data = served
    browser = Browser(chromium, tmp_path / "chromium")
    await browser.start()
    try:
        await browser.send("Page.enable")
        await browser.send("Page.addScriptToEvaluateOnNewDocument", source=RECORD_FRAMES)
        await browser.send("Page.navigate", url=url)
        await _wait_text(browser, "Rooms")
        screen = await _wait_text(browser, "Multi-Agent")
        assert "Chat" in screen and "Memory" in screen
        await asyncio.sleep(2.0)  # the engine is built after the first frame
        await browser.evaluate("document.querySelector('.xterm-helper-textarea').focus(), true")
        await browser.type_text("@hololoom disk full on web-03.prod")
        await browser.press_enter()
        await _wait_text(browser, "TL;DR")
        await browser.screenshot(tmp_path / "served-chat.png")
    finally:
        await browser.close()
    database = sqlite3.connect(data / "hololoom.sqlite3")
    rows = database.execute("SELECT body, kind FROM messages ORDER BY id").fetchall()
    database.close()
    assert rows[0] == ("@hololoom disk full on web-03.prod", "chat")
    assert rows[1][1] == "answer" and "disk-full" in rows[1][0]
