"""Detecting and repairing malformed answers, so a broken structure is never shown.

What can be fixed from the text itself is fixed (headings normalised to the spec's names, an
unheaded answer taken as ANSWER, a missing TL;DR synthesised from ANSWER, an over-long inline
section cut to its word limit) and every fix is recorded. What cannot be fixed without
inventing content (a missing PLAN or VERIFY) is reported as missing: the loop then re-asks the
model or falls back to the offline engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hololoom_core.answers.spec import UltrapromptSpec
from hololoom_core.answers.ultraprompt import parse_answer, render_sections

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`*_\[(])")
_MARKUP = re.compile(r"^\s*(?:\d+[.)]|[-*+]|#{1,6})\s+", re.M)


@dataclass(slots=True)
class RepairResult:
    """Sections after repair, the Markdown to show, what was fixed, and what is still missing."""

    sections: dict[str, str]
    text: str
    actions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every required section is present."""
        return not self.missing

    @property
    def changed(self) -> bool:
        """True when anything was repaired."""
        return bool(self.actions)


def first_sentences(text: str, max_words: int) -> str:
    """The leading whole sentences of `text` within `max_words` (at least the first sentence, cut if needed)."""
    plain = _MARKUP.sub("", text)
    plain = " ".join(plain.replace("**", "").split())
    if not plain:
        return ""
    chosen: list[str] = []
    count = 0
    for sentence in _SENTENCE_END.split(plain):
        words = sentence.split()
        if chosen and count + len(words) > max_words:
            break
        if not chosen and len(words) > max_words:
            return " ".join(words[:max_words]).rstrip(",;:") + "…"
        chosen.append(sentence)
        count += len(words)
    return " ".join(chosen)


def repair_answer(text: str, spec: UltrapromptSpec, agent: str | None = None) -> RepairResult:
    """Parse `text` against the spec and fix what can be fixed without inventing content."""
    parsed = parse_answer(text, spec, agent)
    sections = {name: body for name, body in parsed.sections.items() if body.strip()}
    actions: list[str] = []
    ordered = spec.sections_for(agent)
    by_name = {s.name: s for s in ordered}

    renamed = [(raw, name) for raw, name in parsed.headings if " ".join(raw.upper().split()) != name]
    for raw, name in renamed:
        actions.append(f"heading '{raw}' read as {name}")
    written = [name for _raw, name in parsed.headings]
    if len(written) != len(set(written)):
        actions.append("repeated headings merged")
    expected_order = [s.name for s in ordered if s.name in sections]
    seen_order = list(dict.fromkeys(n for n in written if n in by_name))
    if seen_order and seen_order != expected_order:
        actions.append("sections put in the spec's order")

    if not parsed.headings and parsed.preamble:
        sections["ANSWER"] = parsed.preamble
        actions.append("no section headings: the whole text taken as ANSWER")
    elif parsed.preamble and "ANSWER" not in sections:
        sections["ANSWER"] = parsed.preamble
        actions.append("text before the first heading taken as ANSWER")
    elif parsed.preamble:
        actions.append(f"dropped {len(parsed.preamble.split())} word(s) before the first heading")

    for section in ordered:
        source = section.synthesise_from
        if section.name in sections or not source or not sections.get(source):
            continue
        limit = section.max_words or 40
        synthesised = first_sentences(sections[source], limit)
        if synthesised:
            sections[section.name] = synthesised
            actions.append(f"{section.name} was missing: synthesised from {source}")

    for section in ordered:
        body = sections.get(section.name, "")
        if section.inline and section.max_words and len(body.split()) > section.max_words:
            sections[section.name] = first_sentences(body, section.max_words)
            actions.append(f"{section.name} cut to {section.max_words} words")

    missing = [name for name in spec.required_names(agent) if not sections.get(name, "").strip()]
    if actions:
        rendered = render_sections(sections, footer=parsed.footer or None, spec=spec, agent=agent)
    else:
        rendered = text.strip()
    return RepairResult(sections=sections, text=rendered, actions=actions, missing=missing)
