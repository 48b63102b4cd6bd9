"""The notice step: one analysis path (`engine.analysis`) for a live message (`respond`) and a kept batch
(`notice_batch`), memory's watermark analysis or, without memory, the engine's detector analysis."""

from __future__ import annotations

from dataclasses import dataclass, field

from hololoom_core.config import Config
from hololoom_core.engine import Engine
from hololoom_core.engine.analysis import DetectorAnalysis
from hololoom_core.events import Event, InsightBatchDetected, InsightDetected
from hololoom_core.memory.analysis import MemoryAnalysis
from hololoom_core.models import ChatMessage, Insight, StoredMessage


def message(body: str, event_id: str, sender: str = "alice") -> ChatMessage:
    return ChatMessage(room_id="#ops", sender=sender, body=body, event_id=event_id, ts=1764072000.0)


@dataclass
class OutageDetector:
    """Finds 'outage' and counts the messages it was shown."""

    seen: list[int] = field(default_factory=list)

    def detect(self, message: StoredMessage) -> list[Insight]:
        self.seen.append(message.id)
        if "outage" not in message.body:
            return []
        return [Insight(kind="outage", message_id=message.id, room_id=message.room_id,
                        text=message.body, confidence=0.9, ts=message.ts)]


def insight_events(engine: Engine) -> list[Event]:
    seen: list[Event] = []
    engine.bus.subscribe(lambda e: seen.append(e) if isinstance(e, (InsightDetected, InsightBatchDetected)) else None)
    return seen


async def test_a_kept_batch_is_analysed_once_and_respond_does_not_analyse_it_again(engine: Engine) -> None:
    assert isinstance(engine.analysis, MemoryAnalysis)  # memory fills the slot
    detector = OutageDetector()
    engine.detectors.append(detector)
    events = insight_events(engine)
    kept = engine.keep_batch([message("checkout outage in eu-west", "$a"), message("lunch?", "$b"),
                              message("payments outage too", "$c")])
    assert detector.seen == [] and events == []  # keeping does not analyse
    insights = engine.notice_batch(kept)
    assert detector.seen == [k.stored.id for k in kept]
    signals = [i for i in insights if i.kind == "outage"]
    assert [i.message_id for i in signals] == [kept[0].stored.id, kept[2].stored.id]
    assert [len([i for i in k.insights or [] if i.kind == "outage"]) for k in kept] == [1, 0, 1]
    assert len(events) == 1 and isinstance(events[0], InsightBatchDetected)  # one event per batch, after commit
    assert list(events[0].insights) == insights and set(events[0].messages) == {k.stored.id for k in kept}
    result = await engine.respond(kept[0])
    assert detector.seen == [k.stored.id for k in kept]  # not analysed a second time
    assert result.insights == kept[0].insights
    assert engine.notice_batch(kept) == []  # behind the watermark: nothing is analysed twice
    assert engine.store.scalar("SELECT count(*) FROM insights WHERE kind = 'outage'") == 2


async def test_a_live_message_is_noticed_in_respond_and_published_one_by_one(engine: Engine) -> None:
    detector = OutageDetector()
    engine.detectors.append(detector)
    events = insight_events(engine)
    result = await engine.handle(message("search outage, 502s everywhere", "$live"))
    assert result.message is not None
    assert detector.seen == [result.message.id]
    assert [i.kind for i in result.insights if i.kind == "outage"] == ["outage"]
    assert events and all(isinstance(e, InsightDetected) for e in events)


async def test_without_memory_the_engine_analysis_runs_the_detectors(config: Config) -> None:
    engine = Engine(config, capabilities=[])
    assert isinstance(engine.analysis, DetectorAnalysis)
    detector = OutageDetector()
    engine.detectors.append(detector)
    events = insight_events(engine)
    kept = engine.keep_batch([message("db outage", "$x"), message("all fine", "$y")])
    insights = engine.notice_batch(kept)
    assert [i.message_id for i in insights] == [kept[0].stored.id] and insights[0].id is not None
    assert kept[0].insights == insights and kept[1].insights == []
    assert [type(e) for e in events] == [InsightBatchDetected]
    live = await engine.handle(message("cache outage", "$z"))
    assert [i.kind for i in live.insights] == ["outage"] and isinstance(events[-1], InsightDetected)
    assert engine.store.scalar("SELECT count(*) FROM insights") == 2
    assert engine.stats.insights == 2
    await engine.close()


async def test_keep_batch_ids_are_the_stored_rows(engine: Engine) -> None:
    engine.keep(message("before the batch", "$first"))
    kept = engine.keep_batch([message(f"row {n} of the batch", f"$row{n}") for n in range(40)])
    for item in kept:
        row = engine.messages.get(item.stored.id)
        assert row is not None and (row.event_id, row.body) == (item.stored.event_id, item.stored.body)
