"""The real terminal: the app in tmux (as over SSH), Alt+digit sent as ESC+digit, plain digits, Enter to send."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
# A private tmux server per test (other sessions on the machine are not touched): a fresh socket name each
# time, because a server that is still exiting after `kill-server` refuses a new session on its socket.
SOCKET = f"hololoom-test-{os.getpid()}"
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


def _tmux(*args: str) -> str:
    assert TMUX is not None
    return subprocess.run([TMUX, "-L", SOCKET, *args], capture_output=True, text=True, check=True, timeout=20).stdout


def _screen(session: str) -> str:
    return _tmux("capture-pane", "-p", "-t", session)


def _wait_for(session: str, needle: str, timeout: float = 40.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        if needle in screen:
            return screen
        time.sleep(0.25)
    raise AssertionError(f"{needle!r} not on screen after {timeout}s:\n{screen}")


def _tab_line(screen: str) -> str:
    """The tab bar: the line naming all six tabs."""
    return next(line for line in screen.splitlines() if "Self-Improving" in line and "Multi-Agent" in line)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[str]:
    global SOCKET
    name = f"hololoom-test-{uuid.uuid4().hex[:8]}"
    SOCKET = f"{name}-{os.getpid()}"
    env = {"TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none", "PYTHONPATH": os.getcwd()}
    # tmux may size a detached pane after starting its command: start the app once the pane has its size
    command = f"sleep 0.5; {sys.executable} -m hololoom_tui --data-dir {tmp_path / 'data'}; echo app exited $?; sleep 60"
    conf = tmp_path / "tmux.conf"  # the size from the start: an app that starts before a resize keeps 80x24
    conf.write_text("set -g default-size 160x48\n", encoding="utf-8")
    _tmux("-f", str(conf), "new-session", "-d", "-s", name, "-x", "160", "-y", "48",
          *[arg for key, value in env.items() for arg in ("-e", f"{key}={value}")], command)
    try:
        _wait_for(name, "Rooms")
        time.sleep(1.0)  # the engine is built after the first frame
        yield name
    finally:
        subprocess.run([TMUX or "tmux", "-L", SOCKET, "kill-server"], capture_output=True, timeout=20)


def _active_tab(session: str) -> str:
    """Which tab is shown: each tab's body has a recognisable line."""
    screen = _screen(session)
    if "Rooms" in screen and "Memory" in screen:
        return "chat"
    for marker, tab in (("Team Learning", "team-learning"), ("Multi-Agent", "multi-agent"),
                        ("Predictive Quality", "predictive-quality"), ("Marketplace", "marketplace"),
                        ("Self-Improving", "self-improving")):
        lines = [line for line in screen.splitlines()[3:] if marker in line]
        if lines:
            return tab
    return "?"


def _wait_tab(session: str, expected: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _active_tab(session) == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"tab {expected} not shown:\n{_screen(session)}")


def test_alt_digits_and_plain_digits_switch_tabs_in_tmux(session: str) -> None:
    _tmux("send-keys", "-t", session, "M-3")  # tmux sends ESC 3, as a terminal does for Alt+3 over SSH
    _wait_tab(session, "team-learning")
    assert "£" not in _screen(session)
    _tmux("send-keys", "-t", session, "Escape")
    time.sleep(0.1)
    _tmux("send-keys", "-t", session, "1")  # a bare Escape, a pause, then 1 is not Alt+1 ...
    _wait_tab(session, "chat")  # ... but the digit scheme (no text input has the focus on Team Learning)
    _tmux("send-keys", "-t", session, "M-6")
    _wait_tab(session, "multi-agent")
    _tmux("send-keys", "-t", session, "M-1")
    _wait_tab(session, "chat")
    _tmux("send-keys", "-t", session, "-l", "!ping")
    _tmux("send-keys", "-t", session, "Enter")
    _wait_for(session, "pong")
    screen = _screen(session)
    assert "™" not in screen and "¡" not in screen


def test_a_pasted_fenced_review_is_reviewed_in_tmux(session: str) -> None:
    code = "!review\n```python\nimport subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n```"
    _tmux("set-buffer", "-b", "review", code)
    _tmux("paste-buffer", "-p", "-d", "-b", "review", "-t", session)  # -p: bracketed paste, as terminals do
    time.sleep(0.5)
    assert "Code review of" not in _screen(session)  # the newlines did not send it
    _tmux("send-keys", "-t", session, "Enter")
    screen = _wait_for(session, "B602")
    assert "Nothing to review" not in screen and "snippet.py" in screen
    _tmux("send-keys", "-t", session, "F7")  # rate the newest answer: there is none yet, only a review
    _tmux("send-keys", "-t", session, "-l", "@hololoom disk full on web-03.prod")
    _tmux("send-keys", "-t", session, "Enter")
    _wait_for(session, "rate:")
    _tmux("send-keys", "-t", session, "F7")
    _wait_for(session, "you: 👍")
