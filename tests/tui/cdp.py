"""A small Chrome DevTools Protocol client for the browser tests: headless Chromium driven over its websocket."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
    "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
)


def chromium_binary() -> str | None:
    """Debian's `chromium` (or another Chromium/Chrome on PATH), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """Headless Chromium with one page, driven through the DevTools websocket."""

    def __init__(self, binary: str, profile: Path, size: tuple[int, int] = (1400, 900)) -> None:
        self.binary = binary
        self.profile = profile
        self.size = size
        self.process: subprocess.Popen[bytes] | None = None
        self.session: aiohttp.ClientSession | None = None
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self.ids = itertools.count(1)

    async def start(self) -> None:
        """Start Chromium and connect to its first page."""
        self.profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             f"--window-size={self.size[0]},{self.size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("Chromium did not open its DevTools port")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://127.0.0.1:{port}/json") as response:
            targets = await response.json(content_type=None)
        page = next(target for target in targets if target.get("type") == "page")
        self.socket = await self.session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call one DevTools method and return its result (events in between are ignored)."""
        assert self.socket is not None
        call_id = next(self.ids)
        await self.socket.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = await asyncio.wait_for(self.socket.receive(), 30)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"DevTools connection closed ({message.type})")
            data = json.loads(message.data)
            if data.get("id") == call_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return dict(data.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    async def type_text(self, text: str) -> None:
        """Type text into the focused element, as a keyboard would."""
        await self.send("Input.insertText", text=text)

    async def press_enter(self) -> None:
        """Press and release Enter."""
        common = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text="\r", unmodifiedText="\r", **common)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    async def screenshot(self, path: Path) -> None:
        """Save what the page shows as a PNG."""
        import base64

        data = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(data["data"]))

    async def close(self) -> None:
        """Close the connection and stop Chromium."""
        if self.socket is not None:
            await self.socket.close()
        if self.session is not None:
            await self.session.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
