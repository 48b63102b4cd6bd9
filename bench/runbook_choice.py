"""Runbook-choice accuracy on the shipped scenarios: the question alone vs the question with its room.

Run: python bench/runbook_choice.py. Each shipped scenario is replayed (no delays) into a fresh engine;
for every question addressed to the bot, the runbook the answer put first is compared with the one a
reader of the conversation expects at that point (EXPECTED below; None = no runbook fits). The
"question only" figure is the same retriever with the room-context stage switched off for that answer.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hololoom_core.answers.types import AnswerContext, Configuration  # noqa: E402
from hololoom_core.config import load_config  # noqa: E402
from hololoom_core.engine import Engine  # noqa: E402
from hololoom_core.models import Source  # noqa: E402
from hololoom_core.transport.local import LocalRoom  # noqa: E402
from hololoom_core.transport.scenarios import load_scenario, play_scenario, shipped_scenarios  # noqa: E402

# scenario -> the runbook a reader expects first for the scenario's question to the bot (None: no runbook fits)
EXPECTED: dict[str, str | None] = {
    "api-500-incident": "db-connection-pool-exhaustion",  # Bob just posted the QueuePool error
    "code-review": None,  # refund idempotency: no operational runbook covers it
    "deploy-rollback": "failed-deploy-rollback",
    "cert-expiry": "certificate-expiry",
    "disk-full-night": "disk-full",
}


def first_runbook(sources: list[Source]) -> str | None:
    """The id of the first runbook among an answer's sources."""
    return next((source.ref for source in sources if source.kind == "runbook"), None)


async def measure() -> list[tuple[str, str | None, str | None, str | None]]:
    """(scenario, expected, chosen with the room, chosen from the question only) per bot question."""
    rows = []
    for name in shipped_scenarios():
        with tempfile.TemporaryDirectory() as directory:
            engine = Engine(load_config(None, data_dir=Path(directory), environ={}))
            await engine.start()
            try:
                scenario = load_scenario(name)
                results = await play_scenario(scenario, LocalRoom(engine, room_id=scenario.room), speed=0)
                for result in results:
                    for reply in result.replies:
                        if reply.answer is None or result.message is None:
                            continue
                        message = result.message
                        context = AnswerContext(message.body, message.room_id, message.sender, message.id,
                                                message.thread_id)
                        alone = engine.answer_path.retrievers.retrieve(context, Configuration("q", {"room_context": 0}))
                        rows.append((name, EXPECTED.get(name), first_runbook(reply.answer.sources), first_runbook(alone)))
            finally:
                await engine.close()
    return rows


def accuracy(rows: list[tuple[str, str | None, str | None, str | None]], column: int) -> float:
    """The share of questions whose chosen runbook (column 2: with the room, 3: question only) was expected."""
    return sum(1 for row in rows if row[column] == row[1]) / len(rows) if rows else 0.0


def main() -> None:
    """Print one line per question and the two accuracies."""
    rows = asyncio.run(measure())
    for name, expected, with_room, alone in rows:
        print(f"{name:18} expected {expected or 'none':32} with room {with_room or 'none':32} question only {alone or 'none'}")
    print(f"runbook-choice accuracy: with the room {accuracy(rows, 2):.2f}, question only {accuracy(rows, 3):.2f} "
          f"(n={len(rows)} questions in {len(shipped_scenarios())} scenarios)")


if __name__ == "__main__":
    main()
