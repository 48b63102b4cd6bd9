"""Deterministic answer revisions the loop can apply without a language model.

`tighten` shortens long step lists, `add_caution` puts a warning next to destructive commands,
and `unsupported_commands` finds inline commands that appear in none of the retrieved sources
(the offline half of the `verify` step). Each returns what it changed, so the loop can record
it, or nothing, so the loop can say the strategy did not apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hololoom_core.answers.judge import DANGEROUS_COMMAND
from hololoom_core.llm.runbooks import RunbookLibrary
from hololoom_core.models import Source

_INLINE_CODE = re.compile(r"`([^`\n]{2,})`")
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+")
CAUTION_LINE = (
    "**Caution:** back up or snapshot first and confirm with a second person before running a destructive "
    "command; prefer a dry run where the tool has one."
)


@dataclass(slots=True)
class Revision:
    """Revised sections and a one-line description of the change (empty when nothing changed)."""

    sections: dict[str, str]
    change: str = ""


def _normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def _cap_lists(text: str, keep: int) -> tuple[str, int]:
    """Keep the first `keep` items of every list block; returns the text and how many items were dropped."""
    out: list[str] = []
    dropped = 0
    run = 0
    skipping = False
    for line in text.split("\n"):
        if _LIST_ITEM.match(line):
            run += 1
            skipping = run > keep
            if skipping:
                dropped += 1
                continue
        elif line.startswith(("   ", "\t")) and skipping:
            continue  # continuation of a dropped item
        else:
            if skipping and run > keep:
                out.append(f"- …{run - keep} more step(s) in the sources.")
            run = 0
            skipping = False
        out.append(line)
    if skipping and run > keep:
        out.append(f"- …{run - keep} more step(s) in the sources.")
    return "\n".join(out), dropped


def tighten(sections: dict[str, str], word_budget: int) -> Revision:
    """Shorten the ANSWER's step lists until the whole answer fits `word_budget` words (down to 2 per list)."""
    total = sum(len(body.split()) for body in sections.values())
    if total <= word_budget:
        return Revision(sections)
    answer = sections.get("ANSWER", "")
    for keep in (5, 4, 3, 2):
        shortened, dropped = _cap_lists(answer, keep)
        candidate = {**sections, "ANSWER": shortened}
        new_total = sum(len(body.split()) for body in candidate.values())
        if dropped and new_total <= word_budget:
            return Revision(candidate, f"lists cut to {keep} items ({dropped} dropped): {total} -> {new_total} words")
    shortened, dropped = _cap_lists(answer, 2)
    if not dropped:
        return Revision(sections)
    candidate = {**sections, "ANSWER": shortened}
    new_total = sum(len(body.split()) for body in candidate.values())
    return Revision(candidate, f"lists cut to 2 items ({dropped} dropped): {total} -> {new_total} words")


def add_caution(sections: dict[str, str]) -> Revision:
    """Add a caution line to ANSWER when it suggests a destructive command without one."""
    text = "\n".join(sections.values())
    match = DANGEROUS_COMMAND.search(text)
    if match is None or CAUTION_LINE in sections.get("ANSWER", ""):
        return Revision(sections)
    answer = sections.get("ANSWER", "").rstrip()
    return Revision({**sections, "ANSWER": f"{answer}\n\n{CAUTION_LINE}"},
                    f"caution added for the destructive command '{match.group().strip()}'")


def support_text(question: str, sources: list[Source], runbooks: RunbookLibrary | None) -> str:
    """Everything an answer may legitimately quote: the question, source excerpts and matched runbooks in full."""
    parts = [question]
    for source in sources:
        parts.extend([source.title, source.excerpt, source.ref])
        runbook = runbooks.get(source.ref) if runbooks is not None and source.kind == "runbook" else None
        if runbook is not None:
            parts.extend([runbook.text, runbook.escalate, runbook.id])
    return _normalise("\n".join(parts))


def unsupported_commands(
    sections: dict[str, str],
    question: str,
    sources: list[Source],
    runbooks: RunbookLibrary | None,
    command_prefix: str = "!",
) -> tuple[int, list[str]]:
    """Inline code spans in ANSWER and VERIFY found in none of the sources: (spans checked, unsupported ones)."""
    support = support_text(question, sources, runbooks)
    checked = 0
    unsupported: list[str] = []
    for name in ("ANSWER", "VERIFY"):
        for span in _INLINE_CODE.findall(sections.get(name, "")):
            checked += 1
            if span.startswith(command_prefix) or re.fullmatch(r"<[\w-]+>", span):
                continue
            if _normalise(span) in support or span in unsupported:
                continue
            unsupported.append(span)
    return checked, unsupported


def note_unsupported(sections: dict[str, str], unsupported: list[str], claims: list[str] | None = None) -> Revision:
    """Add a 'check before running' line to VERIFY naming what the sources do not back."""
    if not unsupported and not claims:
        return Revision(sections)
    lines = []
    if unsupported:
        shown = ", ".join(f"`{span}`" for span in unsupported[:5])
        more = f" and {len(unsupported) - 5} more" if len(unsupported) > 5 else ""
        lines.append(f"- Check before running: {shown}{more} appear in none of the retrieved sources.")
    for claim in (claims or [])[:3]:
        lines.append(f"- Not backed by the sources: {claim}")
    verify = sections.get("VERIFY", "").rstrip()
    return Revision({**sections, "VERIFY": (verify + "\n" if verify else "") + "\n".join(lines)},
                    f"{len(unsupported)} unsupported command(s), {len(claims or [])} unsupported claim(s) noted")
