"""Scenario files: scripted conversations (speakers, messages, delays) replayed live into a simulated room."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hololoom_core.models import HandleResult
from hololoom_core.transport.local import LocalRoom, SimulatedUser
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml, yaml_line

DECLARED = re.compile(r"\*\*(INC-\d+) declared\*\*")
INCIDENT_PLACEHOLDER = "{incident}"


class ScenarioError(Exception):
    """A scenario that cannot be replayed, described in one line (file, line, problem)."""


@dataclass(frozen=True, slots=True)
class ScenarioMessage:
    """One scripted message: who says what, after how long, in which thread."""

    speaker: str
    text: str
    delay: float
    thread: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A scripted conversation in one room."""

    name: str
    title: str
    description: str
    room: str
    speakers: tuple[SimulatedUser, ...]
    messages: tuple[ScenarioMessage, ...]
    source: str

    @property
    def duration(self) -> float:
        """Seconds the replay takes at normal speed."""
        return sum(message.delay for message in self.messages)


def shipped_scenarios() -> dict[str, str]:
    """Names of the scenarios shipped in the package, with their titles."""
    base = resources.files("hololoom_core.transport") / "scenarios"
    result: dict[str, str] = {}
    for entry in sorted(base.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            try:
                data = parse_yaml(entry.read_text(encoding="utf-8"))[0] or {}
                result[entry.name[:-5]] = str(data.get("title", ""))
            except YamlSyntaxError:
                result[entry.name[:-5]] = "(unreadable)"
    return result


def _line(node: yaml.Node | None, *path: str | int) -> int | None:
    return yaml_line(node, tuple(path))


def _fail(source: str, line: int | None, problem: str) -> ScenarioError:
    where = f"{source}:{line}" if line else source
    return ScenarioError(f"{where}: {problem}")


def parse_scenario(text: str, source: str) -> Scenario:
    """Validate scenario YAML and build a `Scenario`; the first problem raises `ScenarioError`."""
    try:
        data, document = parse_yaml(text)
    except YamlSyntaxError as exc:
        raise _fail(source, exc.line, f"YAML syntax error ({exc.problem})")
    if not isinstance(data, dict):
        raise _fail(source, 1, "a scenario must be a mapping with name, room, speakers and messages")
    for key in ("name", "room", "speakers", "messages"):
        if key not in data:
            raise _fail(source, 1, f"missing key '{key}'")
    speakers_data = data["speakers"]
    if not isinstance(speakers_data, list) or not speakers_data:
        raise _fail(source, _line(document, "speakers"), "'speakers' must be a non-empty list")
    speakers: list[SimulatedUser] = []
    for index, item in enumerate(speakers_data):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"].strip():
            raise _fail(source, _line(document, "speakers", index), f"speaker #{index + 1} needs an 'id' string")
        speakers.append(SimulatedUser(item["id"], str(item.get("display_name") or item["id"]), str(item.get("role", ""))))
    known = {speaker.id for speaker in speakers}
    messages_data = data["messages"]
    if not isinstance(messages_data, list) or not messages_data:
        raise _fail(source, _line(document, "messages"), "'messages' must be a non-empty list")
    messages: list[ScenarioMessage] = []
    for index, item in enumerate(messages_data):
        line = _line(document, "messages", index)
        if not isinstance(item, dict):
            raise _fail(source, line, f"message #{index + 1} must be a mapping with 'as', 'text' and 'delay'")
        speaker = item.get("as")
        if speaker not in known:
            raise _fail(
                source,
                _line(document, "messages", index, "as") or line,
                f"message #{index + 1}: speaker '{speaker}' is not declared under speakers ({', '.join(sorted(known))})",
            )
        message_text = item.get("text")
        if not isinstance(message_text, str) or not message_text.strip():
            raise _fail(source, line, f"message #{index + 1}: 'text' must be a non-empty string")
        delay = item.get("delay", 1.0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= float(delay) <= 300:
            raise _fail(
                source, _line(document, "messages", index, "delay") or line,
                f"message #{index + 1}: 'delay' must be a number of seconds between 0 and 300",
            )
        thread = item.get("thread")
        messages.append(ScenarioMessage(str(speaker), message_text, float(delay), str(thread) if thread is not None else None))
    return Scenario(
        name=str(data["name"]),
        title=str(data.get("title", data["name"])),
        description=str(data.get("description", "")),
        room=str(data["room"]),
        speakers=tuple(speakers),
        messages=tuple(messages),
        source=source,
    )


def load_scenario(name_or_path: str) -> Scenario:
    """Load a shipped scenario by name, or a scenario file by path."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in name_or_path:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(f"{path}: scenario file not found")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{path}: cannot read scenario ({exc})")
        return parse_scenario(text, str(path))
    shipped = shipped_scenarios()
    if name_or_path not in shipped:
        raise ScenarioError(
            f"no scenario named '{name_or_path}'; shipped scenarios: {', '.join(shipped)} (or give a path to a .yaml file)"
        )
    entry = resources.files("hololoom_core.transport") / "scenarios" / f"{name_or_path}.yaml"
    return parse_scenario(entry.read_text(encoding="utf-8"), f"scenario {name_or_path}")


ProgressCallback = Callable[[int, int, ScenarioMessage, HandleResult], Awaitable[None] | None]


async def play_scenario(
    scenario: Scenario,
    room: LocalRoom,
    *,
    speed: float = 1.0,
    on_progress: ProgressCallback | None = None,
) -> list[HandleResult]:
    """Replay a scenario into `room`, waiting each message's delay (divided by `speed`; 0 = no waiting).

    Each message goes through `LocalRoom.post`, that is the engine's `keep_batch` and `respond` steps.
    `{incident}` in a message stands for the incident the scenario itself declared (the id the engine
    gave it), so a replay works beside other open incidents and can be run again.
    """
    for speaker in scenario.speakers:
        existing = [user for user in room.users if user.id == speaker.id]
        if not existing:
            room.users.append(speaker)
    threads: dict[str, str] = {}
    incident: str | None = None
    results: list[HandleResult] = []
    total = len(scenario.messages)
    for index, scripted in enumerate(scenario.messages, start=1):
        if speed > 0 and scripted.delay > 0:
            await asyncio.sleep(scripted.delay / speed)
        thread_id = threads.get(scripted.thread) if scripted.thread else None
        text = scripted.text
        if incident is not None:
            text = text.replace(INCIDENT_PLACEHOLDER, incident)
        result = await room.post(scripted.speaker, text, thread_id=thread_id)
        for reply in result.replies:
            declared = DECLARED.search(reply.body) if reply.kind != "answer" else None
            if declared is not None:
                incident = declared.group(1)
        if scripted.thread and scripted.thread not in threads and result.message is not None:
            threads[scripted.thread] = result.message.event_id
        results.append(result)
        if on_progress is not None:
            outcome: Any = on_progress(index, total, scripted, result)
            if asyncio.iscoroutine(outcome):
                await outcome
    return results
