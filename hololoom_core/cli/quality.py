"""`hololoom quality report`: how accurate the quality forecasts were, measured by progressive validation."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import CliError, add_common_options, open_engine, print_json


def register(subparsers: Any) -> None:
    """Add the `quality` subcommand (with `report`)."""
    parser = subparsers.add_parser(
        "quality", help="predictive quality: the forecasts' accuracy and calibration",
        description="Predictive quality. `report` prints ROC-AUC, Brier and ECE of the bad-outcome probability, "
        "Spearman and MAE of the predicted quality, a calibration table and the configuration tiers, each "
        "over the outcomes recorded so far (every prediction was made before its outcome was learned).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    report = actions.add_parser("report", help="print the figures and the calibration table",
                                description="Print the progressive-validation figures and a calibration table.")
    report.add_argument("--json", action="store_true", help="print figures, calibration table, tiers, history and "
                        "recent predictions as JSON")
    add_common_options(report)
    report.set_defaults(handler=run_report)
    add_common_options(parser)


def figure_text(value: float | None, digits: int = 3) -> str:
    """A figure with `digits` decimals, or 'n/a' when it cannot be computed yet."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def applying_text(report: dict[str, Any]) -> str:
    """Whether recommendations are applied, and if not yet, why."""
    if not report["applying"]:
        return "NOT applied (features.predictive_quality: false)"
    if report["model"]["outcomes"] < report["apply_after_outcomes"]:
        return f"applied once the model has learned from {report['apply_after_outcomes']} outcomes " \
               f"({report['model']['outcomes']} so far)"
    return "applied"


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report as plain text lines."""
    figures = report["figures"]
    lines = [
        f"Predictive quality over {figures['outcomes']} outcome(s) ({figures['judged']} judged; "
        f"{report['waiting']} waiting for their {report['window_minutes']:g}-minute window to close)",
        f"  bad outcome = re-ask within {report['window_minutes']:g} min, a thumbs down, or judged quality "
        f"< {report['bad_quality_below']:g}; bad rate {figure_text(figures['bad_rate'])}",
        f"  ROC-AUC {figure_text(figures['roc_auc'])}   Brier {figure_text(figures['brier'])}   "
        f"ECE {figure_text(figures['ece'])}",
        f"  Spearman(predicted, judged) {figure_text(figures['spearman'])}   MAE {figure_text(figures['mae'])}",
        f"  model v{report['model']['version']}, prior weight {report['model']['prior_weight']:.2f}; "
        f"recommendations {applying_text(report)}",
        "",
        "Calibration (predicted bad-outcome probability vs observed rate):",
        "  bin          n   predicted  observed",
    ]
    for row in figures["calibration"]:
        if row["n"]:
            lines.append(f"  {row['low']:.1f}-{row['high']:.1f}  {row['n']:6d}   {row['predicted']:.3f}      "
                         f"{row['observed']:.3f}")
    lines += ["", "Configuration tiers:", "  tier        answers  share  applied  quality  bad rate  latency"]
    for tier in report["tiers"]:
        lines.append(
            f"  {tier['tier']:<10} {tier['answers']:8d}  {tier['share']:5.2f}  {tier['applied']:7d}  "
            f"{figure_text(tier['mean_quality'], 3):>7}  {figure_text(tier['bad_rate'], 3):>8}  "
            f"{figure_text(tier['mean_latency_ms'], 1):>7} ms"
        )
    return lines


async def run_report(args: argparse.Namespace) -> int:
    """Print the report."""
    from hololoom_core.quality.service import QualityService

    async with open_engine(args) as engine:
        service = engine.find_capability(QualityService)
        if service is None:
            raise CliError("quality: the quality capability is not installed in this engine")
        report = service.report()
    if args.json:
        print_json(report)
    else:
        print("\n".join(report_lines(report)))
    return 0
