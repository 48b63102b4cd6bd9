"""Benchmark: predictive quality over a replayed question stream (progressive validation) and prediction latency.

What is real: every answer comes from the real engine (offline answer engine, heuristic judge,
real retrieval over a real SQLite file in a temp dir, the shipped runbooks and the shipped scenario
conversations as history); every prediction is made by the installed quality predictor before the
answer, and every figure is computed from the stored predictions and outcomes in the order the
outcomes arrived.

What is simulated (seeded, and said so in the output): the askers' behaviour after an answer. A re-ask
(the same person asking nearly the same question one to four minutes later, detected by the real
re-ask detector) happens with a probability driven by the real answer: 45% when the answer was not
grounded, 6% when it was (plus 40% of the judged shortfall under 0.85); a 👎 reaction happens with 25%
probability when the judged quality is under the bad-outcome threshold, else 3%. Time is a scripted
clock (20-90 s between questions), so the five-minute windows close as they would.

The question stream mixes runbook-grounded operations questions (built from the runbooks' keywords
and symptoms with services and hosts), questions about the scenario conversations, and questions no
runbook or message grounds (other domains, unknown jargon).

The configuration goal is measured on the same stream answered two more times on fresh engines:
always the cheap path and always the expensive path; APGR and the quality at a 30% expensive share use
the main run's difficulty ranking. The anchor for the latency ratio is the full answer (`Engine.ask`),
measured in the same run.

    python bench/predictive_quality.py [--n 1200] [--seed 7] [--cold 120]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from hololoom_core.answers.types import AnswerContext, Configuration
from hololoom_core.clock import Clock
from hololoom_core.config import load_config
from hololoom_core.engine import Engine
from hololoom_core.engine.answering import checked_decision
from hololoom_core.engine.stats import percentile
from hololoom_core.llm.runbooks import RunbookLibrary
from hololoom_core.models import ChatMessage
from hololoom_core.quality.metrics import apgr, compute_figures, quality_vs_expensive_share, roc_auc
from hololoom_core.quality.recommend import CHEAP_LOOP, EXPENSIVE_LOOP
from hololoom_core.quality.service import QualityService
from hololoom_core.transport.scenarios import load_scenario, shipped_scenarios

ROOM = "#ops"
SERVICES = ["checkout-api", "search-api", "orders-api", "payments-worker", "auth-service", "billing-api"]
HOSTS = ["web-03.prod", "db-01.prod", "api-02.prod", "worker-7.prod"]
ASKERS = [f"@user{n}:example.org" for n in range(14)]
GROUNDED_TEMPLATES = [
    "{keyword} on {service}, what should I check first?",
    "we are seeing {keyword} on {host}, how do we fix it?",
    "{symptom}",
    "how do I handle {keyword}?",
    "{service}: {keyword} since the last deploy, any idea?",
]
UNGROUNDED = [
    "how should we plan the team offsite next quarter?",
    "what is a good recipe for sourdough bread?",
    "who won the football match last night?",
    "can you recommend a book about medieval history?",
    "what does the frobnicator zorb setting do in quuxd?",
    "is the glimmerbox flux capacitor config safe to change?",
    "which laptop should I buy for video editing?",
    "what's the best way to learn the violin as an adult?",
    "explain the rules of cricket briefly",
    "how do I make the wibble daemon sprocket faster?",
    "what should we name the new meeting room?",
    "translate good morning into Portuguese",
]
CHATTER = [
    "deploying {service} v2.{n} to prod now",
    "{service} error rate back to normal after the restart",
    "seeing timeouts from {service} on {host}",
    "rolled back {service} to the previous release",
    "lunch anyone?",
]


class ScriptedClock(Clock):
    """Wall time the bench moves forward; latency still uses the real monotonic counter."""

    def __init__(self, start: float = 1_764_072_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


def question_stream(rng: random.Random, count: int) -> list[str]:
    """The base questions, in order: about 60% runbook-grounded, 15% from the scenarios, 25% ungrounded."""
    runbooks = list(RunbookLibrary.from_directory().runbooks.values())
    scenario_questions = []
    for name in shipped_scenarios():
        for message in load_scenario(name).messages:
            if "?" in message.text and not message.text.startswith("!"):
                scenario_questions.append(message.text.replace("@hololoom", "").strip())
    questions = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.60:
            runbook = rng.choice(runbooks)
            questions.append(rng.choice(GROUNDED_TEMPLATES).format(
                keyword=rng.choice(runbook.keywords), service=rng.choice(SERVICES), host=rng.choice(HOSTS),
                symptom=rng.choice(runbook.symptoms)))
        elif roll < 0.75 and scenario_questions:
            questions.append(rng.choice(scenario_questions))
        else:
            questions.append(rng.choice(UNGROUNDED))
    return questions


def scenario_history() -> list[ChatMessage]:
    """The shipped scenarios' conversations as earlier messages of the room (commands left out)."""
    history = []
    ts = 1_764_000_000.0
    for name in shipped_scenarios():
        scenario = load_scenario(name)
        for number, message in enumerate(scenario.messages):
            if message.text.startswith("!") or "@hololoom" in message.text:
                continue
            ts += 5.0
            history.append(ChatMessage(room_id=ROOM, sender=f"@{message.speaker}:example.org", body=message.text,
                                       transport="import", event_id=f"$hist-{name}-{number}", ts=ts))
    return history


async def make_engine(directory: Path, clock: ScriptedClock) -> Engine:
    """A started engine on its own SQLite file, with the scenario history kept."""
    config = load_config(None, data_dir=directory, environ={})
    engine = Engine(config, clock=clock)
    await engine.start()
    engine.keep_batch(scenario_history())
    return engine


def reask_of(question: str, rng: random.Random) -> str:
    """The same question asked again (near-identical wording, so the real re-ask detector sees it)."""
    return rng.choice(["still: {q}", "{q} (asking again)", "again, {q}", "{q} anyone?"]).format(q=question)


async def main_run(questions: list[str], seed: int, directory: Path) -> dict[str, Any]:
    """Answer the stream with the predictor applied; simulate re-asks and reactions; return what was measured."""
    rng = random.Random(seed)
    clock = ScriptedClock()
    engine = await make_engine(directory, clock)
    service = engine.capability(QualityService)
    predict_ms: list[float] = []
    predict_cpu_ms: list[float] = []
    answer_ms: list[float] = []
    per_question: list[dict[str, Any]] = []
    reasks: deque[tuple[float, str, str]] = deque()
    simulated = {"reasks": 0, "thumbs_down": 0}
    cursor = 0
    message_number = 0
    while cursor < len(questions) or reasks:
        clock.t += rng.uniform(20.0, 90.0)
        if rng.random() < 0.3:  # chatter keeps the room alive and grows the vocabulary
            message_number += 1
            text = rng.choice(CHATTER).format(service=rng.choice(SERVICES), host=rng.choice(HOSTS),
                                              n=rng.randint(1, 40))
            engine.keep_batch([ChatMessage(room_id=ROOM, sender=rng.choice(ASKERS), body=text, transport="local",
                                           event_id=f"$chat-{message_number}", ts=clock.t)])
        if reasks and reasks[0][0] <= clock.t:
            _due, asker, question = reasks.popleft()
            base_index = None
        elif cursor < len(questions):
            question, asker, base_index = questions[cursor], rng.choice(ASKERS), cursor
            cursor += 1
        else:
            clock.t = reasks[0][0]
            continue
        started = time.perf_counter()
        answer = await engine.ask(question, room_id=ROOM, asker=asker)
        answer_ms.append((time.perf_counter() - started) * 1000.0)
        prediction = answer.details["prediction"]
        predict_ms.append(float(prediction["model"]["predict_ms"]))
        predict_cpu_ms.append(float(prediction["model"]["predict_cpu_ms"]))
        if base_index is not None:
            per_question.append({"difficulty": prediction["difficulty"], "quality": answer.quality,
                                 "tier": prediction["model"]["tier"], "grounded": answer.grounded})
        threshold = engine.config.quality.bad_quality_below
        shortfall = max(0.0, 0.85 - answer.quality)
        if base_index is not None and rng.random() < (0.45 if not answer.grounded else 0.06 + 0.4 * shortfall):
            simulated["reasks"] += 1
            reasks.append((clock.t + rng.uniform(60.0, 240.0), asker, reask_of(question, rng)))
        if answer.interaction_id is not None and rng.random() < (0.25 if answer.quality < threshold else 0.03):
            simulated["thumbs_down"] += 1
            engine.record_feedback(answer.interaction_id, asker, -1, "reaction", ref="bench")
    clock.t += 3600.0
    service.label_expired()
    report = service.report()
    rows = engine.store.query(
        "SELECT retry_probability, bad, predicted_quality, judged_quality FROM quality_predictions "
        "WHERE bad IS NOT NULL ORDER BY labelled_ts, interaction_id"
    )
    report["_rows"] = [tuple(row) for row in rows]
    await engine.close()
    return {"report": report, "predict_ms": predict_ms, "predict_cpu_ms": predict_cpu_ms, "answer_ms": answer_ms, "per_question": per_question,
            "simulated": simulated}


async def forced_run(questions: list[str], params: dict[str, Any], name: str, directory: Path) -> list[float]:
    """Judged quality of every base question answered always with one configuration (no simulation)."""
    clock = ScriptedClock()
    engine = await make_engine(directory, clock)
    engine.answer_path.choose_configuration = lambda context: Configuration(name, dict(params))
    qualities = []
    for question in questions:
        clock.t += 60.0
        answer = await engine.ask(question, room_id=ROOM, asker="@bench:example.org")
        qualities.append(answer.quality)
    await engine.close()
    return qualities


async def cold_start(questions: list[str], directory: Path) -> dict[str, Any]:
    """On a fresh install: does the prior's predicted quality rank grounded answers above ungrounded ones?"""
    clock = ScriptedClock()
    engine = await make_engine(directory, clock)
    service = engine.capability(QualityService)
    predicted: list[float] = []
    grounded: list[int] = []
    path = engine.answer_path
    for question in questions:
        context = AnswerContext(question=question, room_id=ROOM, asker="@cold:example.org")
        forecast, _ = service.forecast(context, checked_decision(path.route(context, path.agents), path.agents))
        predicted.append(forecast.quality)
        answer = await engine.ask(question, room_id=ROOM, asker=f"@cold{len(grounded)}:example.org")
        grounded.append(1 if answer.grounded else 0)
        clock.t += 600.0
    import numpy as np

    auc = roc_auc(np.asarray(grounded, dtype=float), np.asarray(predicted, dtype=float))
    await engine.close()
    g = [p for p, flag in zip(predicted, grounded, strict=True) if flag]
    u = [p for p, flag in zip(predicted, grounded, strict=True) if not flag]
    return {"n": len(questions), "grounded": len(g), "ungrounded": len(u), "auc": auc,
            "mean_grounded": statistics.fmean(g) if g else None, "mean_ungrounded": statistics.fmean(u) if u else None}


def measured(values: list[float], fraction: float) -> float:
    """A percentile of a non-empty list of measurements."""
    value = percentile(values, fraction)
    assert value is not None, "no measurements"
    return value


def verdict(value: float | None, goal: float, higher_is_better: bool) -> str:
    """'met' or 'MISSED' against a goal."""
    if value is None:
        return "n/a"
    return "met" if (value >= goal if higher_is_better else value <= goal) else "MISSED"


async def run(count: int, seed: int, cold: int) -> None:
    rng = random.Random(seed)
    questions = question_stream(rng, count)
    cold_questions = question_stream(random.Random(seed + 1), cold)
    with tempfile.TemporaryDirectory() as root:
        base = Path(root)
        started = time.perf_counter()
        cold_figures = await cold_start(cold_questions, base / "cold")
        main = await main_run(questions, seed, base / "main")
        cheap = await forced_run(questions, {"retrieval_mode": "bare", "loop": CHEAP_LOOP}, "always-cheap",
                                 base / "cheap")
        expensive = await forced_run(questions, {"retrieval_mode": "fast", "loop": EXPENSIVE_LOOP},
                                     "always-expensive", base / "expensive")
        elapsed = time.perf_counter() - started
    figures = main["report"]["figures"]
    per_question = main["per_question"]
    difficulty = [row["difficulty"] for row in per_question]
    applied_quality = statistics.fmean(row["quality"] for row in per_question)
    expensive_mean = statistics.fmean(expensive)
    cheap_mean = statistics.fmean(cheap)
    share_expensive = sum(1 for row in per_question if row["tier"] == "expensive") / len(per_question)
    at_30, _ = quality_vs_expensive_share(difficulty, cheap, expensive, 0.30)
    apgr_value = apgr(difficulty, cheap, expensive)
    p50, p99 = measured(main["predict_ms"], 0.50), measured(main["predict_ms"], 0.99)
    answer_p50 = measured(main["answer_ms"], 0.50)
    cpu_p50, cpu_p99 = measured(main["predict_cpu_ms"], 0.50), measured(main["predict_cpu_ms"], 0.99)
    load = os.getloadavg()[0]
    # the last half only: the figures once the prior has faded
    half = compute_figures(*_second_half(main["report"]))
    print(f"predictive quality bench: {len(questions)} base questions, {figures['outcomes']} outcomes "
          f"({main['simulated']['reasks']} simulated re-asks, {main['simulated']['thumbs_down']} simulated 👎), "
          f"seed {seed}, {elapsed:.0f} s")
    print("  outcomes: real engine answers and judge scores; asker behaviour (re-asks, 👎) simulated from each "
          "answer's grounding and judged quality (see the module docstring)")
    print(f"  bad-outcome rate {figures['bad_rate']:.3f}")
    rows = [
        ("ROC-AUC (bad outcome)", figures["roc_auc"], 0.75, True),
        ("ECE", figures["ece"], 0.05, False),
        ("Brier", figures["brier"], 0.18, False),
        ("Spearman(predicted, judged)", figures["spearman"], 0.5, True),
    ]
    for name, value, goal, higher in rows:
        shown = "n/a" if value is None else f"{value:.4f}"
        print(f"  {name:<30} {shown:>8}   goal {'>=' if higher else '<='} {goal}   {verdict(value, goal, higher)}")
    print(f"  {'MAE (predicted vs judged)':<30} {figures['mae']:.4f}")
    print(f"  second half only ({half.outcomes} outcomes): AUC {half.roc_auc:.4f}  ECE {half.ece:.4f}  "
          f"Brier {half.brier:.4f}  Spearman {half.spearman if half.spearman is not None else float('nan'):.4f}")
    print("  calibration (bin: n, predicted, observed):")
    for row in figures["calibration"]:
        if row["n"]:
            print(f"    {row['low']:.1f}-{row['high']:.1f}: {row['n']:5d}  {row['predicted']:.3f}  {row['observed']:.3f}")
    print(f"  configuration: always-cheap mean quality {cheap_mean:.4f}, always-expensive {expensive_mean:.4f}")
    print(f"    applied recommendation: mean quality {applied_quality:.4f} = {applied_quality / expensive_mean:.4f} of "
          f"always-expensive, {share_expensive:.3f} of questions on the expensive path   goal >= 0.80 with <= 0.30: "
          f"{'met' if applied_quality / expensive_mean >= 0.8 and share_expensive <= 0.3 else 'MISSED'}")
    print(f"    counterfactual at 30% expensive by predicted difficulty: {at_30 / expensive_mean:.4f} of "
          f"always-expensive; APGR {('n/a (expensive path no better than cheap on this stream)' if apgr_value is None else f'{apgr_value:.4f}')}")
    print(f"  cold start ({cold_figures['n']} questions, prior only): mean predicted quality grounded "
          f"{cold_figures['mean_grounded']:.4f} vs ungrounded {cold_figures['mean_ungrounded']:.4f}; "
          f"P(grounded ranked above ungrounded) {cold_figures['auc']:.4f}   "
          f"{'met' if (cold_figures['auc'] or 0) > 0.5 else 'MISSED'}")
    print(f"  prediction latency p50 {p50:.4f} ms, p99 {p99:.4f} ms (goal p99 <= 1 ms: {verdict(p99, 1.0, False)}); "
          f"anchor: full answer p50 {answer_p50:.2f} ms, prediction = {p50 / answer_p50:.3f} of it")
    print(f"    CPU time of the prediction (thread time, free of other processes' scheduling): p50 {cpu_p50:.4f} ms, "
          f"p99 {cpu_p99:.4f} ms ({verdict(cpu_p99, 1.0, False)}); load average during the run {load:.1f} on "
          f"{os.cpu_count()} cores")


def _second_half(report: dict[str, Any]) -> tuple[list[float], list[int], list[float], list[float]]:
    """Pairs of the newer half of the outcomes (from the report's stored rows)."""
    rows = report["_rows"]
    rows = rows[len(rows) // 2:]
    judged = [row for row in rows if row[3] is not None]
    return ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in judged], [r[3] for r in judged])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1200, help="base questions in the stream (re-asks come on top)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the stream and the simulated askers")
    parser.add_argument("--cold", type=int, default=120, help="questions for the cold-start ranking check")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.seed, args.cold))


if __name__ == "__main__":
    main()
