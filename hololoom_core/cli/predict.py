"""`hololoom predict`: the quality forecast for a question, made before answering it (nothing is answered)."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import CliError, add_common_options, open_engine, print_json


def register(subparsers: Any) -> None:
    """Add the `predict` subcommand."""
    parser = subparsers.add_parser(
        "predict", help="forecast an answer's quality, difficulty and re-ask risk before answering",
        description="Compute the pre-answer features of a question and the quality model's forecast: predicted "
        "quality, difficulty, the probability of a bad outcome (re-ask, thumbs down or low judged quality) and "
        "the configuration it recommends. Nothing is answered or stored.")
    parser.add_argument("question", help="the question, in quotes")
    parser.add_argument("--json", action="store_true", help="print predicted_quality, difficulty, "
                        "retry_probability, recommended_config, features and model as JSON")
    parser.add_argument("--room", default=None, help="forecast as if asked in this room (room activity)")
    parser.add_argument("--as", dest="asker", default="cli", help="forecast as if asked by this user "
                        "(re-ask detection; default: cli)")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Print the forecast."""
    from hololoom_core.answers.types import AnswerContext
    from hololoom_core.quality.service import QualityService

    question = args.question.strip()
    if not question:
        raise CliError("predict: the question is empty; try: hololoom predict \"why is checkout-api returning 500s?\"",
                       2)
    async with open_engine(args) as engine:
        service = engine.find_capability(QualityService)
        if service is None:
            raise CliError("predict: the quality capability is not installed in this engine")
        context = AnswerContext(question=question, room_id=args.room, asker=args.asker)
        path = engine.answer_path
        decision = await path.decide(context)
        forecast, _pending = service.forecast(context, decision)
    data = forecast.as_dict()
    if args.json:
        print_json(data)
        return 0
    print(f"predicted quality {data['predicted_quality']:.2f} · difficulty {data['difficulty']:.2f} · "
          f"bad-outcome risk {data['retry_probability']:.2f} · tier {data['model']['tier']}")
    recommended = ", ".join(f"{k}={v}" for k, v in data["recommended_config"].items()) or "nothing to change"
    # the forecast's reason says why a recommendation is not applied (switched off, or too few outcomes yet)
    applied = "applied" if data["applied"] else data["reason"].partition("; ")[2] or "not applied"
    print(f"recommended: {recommended} ({applied})")
    model = data["model"]
    print(f"model v{model['version']}, learned from {model['outcomes']} outcome(s) and {model['judged']} judged "
          f"answer(s); prior weight {model['prior_weight']:.2f}; predicted in {model['predict_ms']:.3f} ms")
    return 0
