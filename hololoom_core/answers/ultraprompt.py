"""The ultraprompt answer structure (PLAN / ANSWER / VERIFY / TL;DR): rendering, parsing and prompts.

The structure itself is data (`promptly.spec`); these functions take a spec, and fall back to
the shipped one when none is given, so the offline engine and old callers keep working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from hololoom_core.answers.spec import (
    SectionSpec,
    UltrapromptSpec,
    canonical_name,
    default_spec,
    fill_template,
)
from hololoom_core.models import Source

SECTIONS: tuple[str, ...] = ("PLAN", "ANSWER", "VERIFY", "TL;DR")


def canonical_section(name: str) -> str:
    """Map a heading as written ('tldr', 'TL ; DR', 'Plan') to its canonical section name."""
    return canonical_name(name)


def _name_pattern(name: str) -> str:
    """A regex for a section name as people write it: any case, flexible spaces, 'TL;DR' as 'TLDR' too."""
    if canonical_name(name) == "TL;DR":
        return r"TL\s*;?\s*DR"
    return r"\s+".join(re.escape(part) for part in name.split())


@lru_cache(maxsize=64)
def _heading_regex(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(_name_pattern(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(
        r"^[ \t]*(?P<hash>#{1,6}[ \t]*)?(?P<bold>\*\*|__)?[ \t]*(?P<name>" + alternatives + r")[ \t]*"
        r"(?P<sep>[:\-–—])?[ \t]*(?P<bold2>\*\*|__)?[ \t]*(?P<sep2>:)?[ \t]*(?P<rest>[^\n]*)$",
        re.I | re.M,
    )


def _aliases(spec: UltrapromptSpec, agent: str | None) -> dict[str, str]:
    """Every way a section may be written (name or alias, canonical) -> its canonical name."""
    mapping: dict[str, str] = {}
    sections: list[SectionSpec] = list(spec.sections_for(agent))
    for other in spec.agents.values():  # headings of other agents' sections still split text correctly
        sections.extend(s for s in other.sections if all(s.name != t.name for t in sections))
    for section in sections:
        mapping[section.name] = section.name
        for alias in section.aliases:
            mapping.setdefault(alias, section.name)
    return mapping


@dataclass(slots=True)
class ParsedAnswer:
    """An answer split into sections, with the headings as they were written and any text before them."""

    sections: dict[str, str]
    headings: list[tuple[str, str]] = field(default_factory=list)
    preamble: str = ""
    footer: str = ""


def parse_answer(text: str, spec: UltrapromptSpec | None = None, agent: str | None = None) -> ParsedAnswer:
    """Split an answer into its sections by heading (names and aliases, any Markdown heading style)."""
    spec = spec or default_spec()
    aliases = _aliases(spec, agent)
    inline = {s.name for s in spec.sections_for(agent) if s.inline}
    pattern = _heading_regex(tuple(aliases))
    matches = []
    for match in pattern.finditer(text):
        marked = match.group("hash") or match.group("bold") or match.group("sep") or match.group("sep2")
        if marked or not match.group("rest").strip():
            matches.append(match)
    parsed = ParsedAnswer(sections={}, preamble=text[: matches[0].start()].strip() if matches else text.strip())
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        raw = match.group("name")
        name = aliases.get(canonical_name(raw), canonical_name(raw))
        parsed.headings.append((raw.strip(), name))
        body = (match.group("rest") + text[match.end() : end]).strip()
        body = re.sub(r"^(?:\*\*|__)\s*", "", body) if match.group("bold") and not match.group("bold2") else body
        if name in inline:
            body, _, footer = body.partition("\n\n")  # one paragraph; what follows is a footer
            if footer.strip() and index == len(matches) - 1:
                parsed.footer = footer.strip()
            body = body.strip()
        if parsed.sections.get(name):
            parsed.sections[name] += "\n\n" + body
        else:
            parsed.sections[name] = body
    return parsed


def parse_sections(text: str, spec: UltrapromptSpec | None = None, agent: str | None = None) -> dict[str, str]:
    """Split an answer into its sections by heading; text before the first heading is dropped."""
    return parse_answer(text, spec, agent).sections


def render_sections(
    sections: dict[str, str],
    footer: str | None = None,
    spec: UltrapromptSpec | None = None,
    agent: str | None = None,
) -> str:
    """Render sections as Markdown with the spec's headings, in the spec's order, plus an optional footer."""
    spec = spec or default_spec()
    parts: list[str] = []
    ordered = spec.sections_for(agent)
    known = {s.name for s in ordered}
    required = set(spec.required_names(agent)) & set(SECTIONS)
    for section in ordered:
        text = sections.get(section.name, "").strip()
        if not text and section.name not in required:  # an optional empty section gets no bare heading
            continue
        parts.append(f"{section.heading} {text}" if section.inline else f"{section.heading}\n{text}")
    extras = [name for name in sections if name not in known and sections[name].strip()]
    for name in extras:  # sections the spec does not list are kept, not dropped
        parts.insert(max(0, len(parts) - 1), f"### {name}\n{sections[name].strip()}")
    if footer:
        parts.append(footer)
    return "\n\n".join(parts)


def missing_sections(
    sections: dict[str, str], spec: UltrapromptSpec | None = None, agent: str | None = None
) -> list[str]:
    """The required sections that are absent or empty (the four canonical ones without a spec)."""
    names = SECTIONS if spec is None else tuple(spec.required_names(agent))
    return [name for name in names if not sections.get(name, "").strip()]


# -- prompts ---------------------------------------------------------------------------------------


def _source_line(number: int, source: Source, max_chars: int) -> str:
    excerpt = " ".join(source.excerpt.split())
    if len(excerpt) > max_chars:
        excerpt = excerpt[: max_chars - 1].rstrip() + "…"
    where = [source.kind, f"`{source.ref}`" if source.kind == "runbook" else source.title]
    if source.ts is not None:
        where.append(datetime.fromtimestamp(source.ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC"))
    if source.room_id:
        where.append(source.room_id)
    if source.author:
        where.append(source.author)
    return f"[S{number}] ({', '.join(where)}; match {source.score:.2f}) {source.title}: {excerpt}"


def render_sources(sources: list[Source], spec: UltrapromptSpec) -> str:
    """The numbered source list of a prompt, cut to the spec's budget."""
    chosen = sources[: spec.options.max_sources_in_prompt]
    if not chosen:
        return "(none: no runbook or earlier message matched; say so and do not guess)"
    return "\n".join(_source_line(n, s, spec.options.max_source_chars) for n, s in enumerate(chosen, start=1))


def render_section_list(spec: UltrapromptSpec, agent: str | None, only: list[str] | None = None) -> str:
    """The bullet list of sections (heading and what it must contain) for the user message."""
    lines = []
    for section in spec.sections_for(agent):
        if section.verification_only and not spec.options.verification:
            continue
        if only is not None and section.name not in only:
            continue
        lines.append(f"- {section.heading} {section.must_contain}")
    return "\n".join(lines)


def render_messages(
    spec: UltrapromptSpec,
    *,
    question: str,
    sources: list[Source],
    agent: str,
    agent_brief: str = "",
    instructions: str = "",
    history: list[str] | None = None,
    only_sections: list[str] | None = None,
) -> list[dict[str, str]]:
    """The system and user chat messages for a language model, rendered from the spec."""
    values = {"agent": agent, "agent_brief": agent_brief or agent}
    system = fill_template(spec.system, values).strip()
    extra = [text for text in (spec.agent_instructions(agent), instructions.strip()) if text]
    history_text = ""
    if history:
        history_text = "\nEarlier in this exchange:\n" + "\n\n".join(h.strip() for h in history if h.strip()) + "\n"
    user = fill_template(
        spec.user_template,
        {
            **values,
            "question": question.strip(),
            "sources": render_sources(sources, spec),
            "sections": render_section_list(spec, agent, only_sections),
            "instructions": "\n".join(extra),
            "history": history_text,
        },
    )
    user = re.sub(r"\n{3,}", "\n\n", user).strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
