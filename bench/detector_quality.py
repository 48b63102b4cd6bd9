"""Precision and recall of the proactive detectors on the labelled sets in tests/data/memory.

Run: python bench/detector_quality.py [--show-errors]. The development set is the one the
shipped patterns were tuned on; the held-out set was written at the same time and not tuned on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hololoom_core.memory.detectors import analyse_text, localpart  # noqa: E402
from hololoom_core.memory.patterns import DETECTOR_KINDS, PatternBook  # noqa: E402

DATA = ROOT / "tests" / "data" / "memory"
PEOPLE = ["alice", "bob", "priya", "marco", "dana"]


def evaluate(path: Path, show_errors: bool = False) -> dict[str, dict[str, float]]:
    """Per-kind precision/recall/F1 plus owner accuracy on one labelled file."""
    rules = PatternBook(None).for_room("#ops")
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))
    counts = {kind: {"tp": 0, "fp": 0, "fn": 0} for kind in DETECTOR_KINDS}
    owners_right = owners_total = 0
    items = {"tp": 0, "fp": 0, "fn": 0}
    for case in cases:
        found = analyse_text(case["text"], rules, sender="@carol:example.org", people=PEOPLE)
        kinds = {d.kind for d in found}
        expected = set(case["kinds"])
        for kind in DETECTOR_KINDS:
            if kind in kinds and kind in expected:
                counts[kind]["tp"] += 1
            elif kind in kinds:
                counts[kind]["fp"] += 1
                if show_errors:
                    print(f"  FP {kind:15} {case['text']}")
            elif kind in expected:
                counts[kind]["fn"] += 1
                if show_errors:
                    print(f"  FN {kind:15} {case['text']}")
        if "actions" in case:
            self_name = localpart("@carol:example.org")
            expected_items = [(self_name if a.get("owner") == "self" else a.get("owner"), a.get("due"))
                              for a in case["actions"]]
            predicted = predicted_items(found)
            matched = sum(1 for item in expected_items if item in predicted)
            items["tp"] += matched
            items["fn"] += len(expected_items) - matched
            items["fp"] += len([item for item in predicted if item not in expected_items])
            if show_errors and (matched < len(expected_items) or len(predicted) > matched):
                print(f"  ITEMS want {expected_items} got {predicted}: {case['text']}")
        if "owner" in case and "action_item" in kinds:
            owners_total += 1
            action = next(d for d in found if d.kind == "action_item")
            want = localpart("@carol:example.org") if case["owner"] == "self" else case["owner"]
            if action.data.get("owner") == want:
                owners_right += 1
            elif show_errors:
                print(f"  OWNER want {want} got {action.data.get('owner')}: {case['text']}")
    report: dict[str, dict[str, float]] = {}
    total = {"tp": 0, "fp": 0, "fn": 0}
    for kind, c in counts.items():
        for key in total:
            total[key] += c[key]
        report[kind] = _prf(c)
    report["micro"] = _prf(total)
    report["action_items"] = _prf(items)
    report["owner"] = {"accuracy": owners_right / owners_total if owners_total else 0.0, "n": owners_total}
    return report


def predicted_items(found: list[Any]) -> list[tuple[str | None, str | None]]:
    """(owner, due phrase) of every action item the detectors report for one message."""
    action = next((d for d in found if d.kind == "action_item"), None)
    if action is None:
        return []
    listed = action.data.get("items") or [action.data]
    return [(item.get("owner"), item.get("due_text")) for item in listed]


def _prf(c: dict[str, int]) -> dict[str, float]:
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": c["tp"] + c["fn"]}


def main() -> None:
    """Print the figures for both sets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    for name in ("labelled_dev.yaml", "labelled_heldout.yaml", "labelled_operator.yaml"):
        print(name)
        report = evaluate(DATA / name, args.show_errors)
        for kind, figures in report.items():
            if kind == "action_items" and not figures["support"]:
                continue
            if kind == "owner" and not figures["n"]:
                continue
            if kind == "owner":
                print(f"  {'owner':15} accuracy {figures['accuracy']:.2f} (n={figures['n']})")
                continue
            label = "items" if kind == "action_items" else kind
            print(f"  {label:15} P {figures['precision']:.2f}  R {figures['recall']:.2f}  F1 {figures['f1']:.2f}"
                  f"  (support {figures['support']:.0f})")


if __name__ == "__main__":
    main()
