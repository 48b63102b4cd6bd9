"""What an answer's expander shows: the judge's verdict per criterion, and every loop step taken."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual.widgets import Collapsible, Static

from hololoom_tui.format import bar


def verdict_table(judge: dict[str, Any]) -> Table:
    """The judge's criteria as a table: name, score bar, score, reason."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=True)
    table.add_column("criterion", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("reason", ratio=1)
    for name, item in (judge.get("criteria") or {}).items():
        score = float(item.get("score", 0.0))
        table.add_row(name, bar(score, 10), f"{score:.2f}", str(item.get("reason", "")))
    return table


def describe_step(step: dict[str, Any]) -> str:
    """One loop step as a line of plain text."""
    kind = str(step.get("step", "?"))
    if kind == "loop":
        return f"loop: {step.get('program')} (spec {step.get('spec')})"
    if kind == "generate":
        if step.get("error"):
            return f"generate with {step.get('provider')}: failed — {step['error']}"
        if step.get("status") == "skipped":
            return f"generate with {step.get('provider')}: skipped — {step.get('reason')}"
        extra = []
        if step.get("model"):
            extra.append(f"model {step['model']}")
        if "streamed_chunks" in step:
            extra.append(f"{step['streamed_chunks']} chunks streamed")
        if step.get("chaining"):
            extra.append(str(step["chaining"]))
        if step.get("repairs"):
            extra.append("repaired: " + "; ".join(step["repairs"]))
        return f"generate with {step.get('provider')}" + (f" ({', '.join(extra)})" if extra else "")
    if kind == "judge":
        text = f"judge {step.get('judge')}: {float(step.get('score', 0)):.2f}"
        if step.get("fallback"):
            text += f" (fallback: {step['fallback']})"
        if step.get("auto"):
            text += f" [{step['auto']}]"
        return text
    if kind == "refine":
        if step.get("status"):
            prefix = f"refine round {step['round']}" if "round" in step else "refine"
            return f"{prefix}: {step['status']} — {step.get('reason')}"
        return (f"refine round {step.get('round')}: {step.get('strategy')} ({step.get('change')}); "
                f"{float(step.get('score_before', 0)):.2f} → {float(step.get('score_after', 0)):.2f}, "
                f"kept {step.get('kept')}")
    if kind == "verify":
        if step.get("status") == "skipped":
            return f"verify: skipped — {step.get('reason')}"
        text = f"verify: {step.get('commands_checked', 0)} command(s) checked"
        unsupported = step.get("unsupported_commands") or []
        text += f", {len(unsupported)} unsupported" if unsupported else ", all found in the sources"
        if step.get("unsupported_claims"):
            text += f", {len(step['unsupported_claims'])} unsupported claim(s)"
        return text
    if kind == "retry":
        return f"retry {step.get('attempt')}: missing {', '.join(step.get('missing') or [])}"
    if kind == "repair":
        return "repair: " + "; ".join(step.get("actions") or [])
    if kind == "fallback":
        return f"fallback to {step.get('provider')}: {step.get('reason')}"
    if kind == "cache":
        return "answer from the cache"
    details = ", ".join(f"{k} {v}" for k, v in step.items() if k != "step")
    return f"{kind}: {details}"


def steps_text(steps: list[dict[str, Any]]) -> Text:
    """The numbered loop steps."""
    text = Text()
    for number, step in enumerate(steps, start=1):
        if number > 1:
            text.append("\n")
        text.append(f"{number:>2}. ", style="dim")
        text.append(describe_step(step))
    return text


class AnswerDetails(Collapsible):
    """A collapsed section under an answer: the verdict per criterion and the loop steps."""

    def __init__(self, judge: dict[str, Any] | None, steps: list[dict[str, Any]] | None) -> None:
        self.judge = judge
        self.steps = steps or []
        children: list[Static] = []
        if judge:
            children.append(Static(verdict_table(judge), classes="answer-verdict"))
        if self.steps:
            children.append(Static(steps_text(self.steps), classes="answer-steps"))
        if not children:
            children.append(Static(escape("(no verdict or loop steps were recorded for this answer)")))
        score = f"{float(judge.get('score', 0)):.2f}" if judge else "—"
        who = judge.get("judge", "?") if judge else "?"
        super().__init__(*children, title=f"judge {who} {score} · {len(self.steps)} loop step(s)", collapsed=True,
                         classes="answer-details")
