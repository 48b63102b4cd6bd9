"""The ultraprompt answer structure (PLAN / ANSWER / VERIFY / TL;DR): rendering and parsing."""

from __future__ import annotations

import re

SECTIONS: tuple[str, ...] = ("PLAN", "ANSWER", "VERIFY", "TL;DR")

_HEADING = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*|__)?[ \t]*(PLAN|ANSWER|VERIFY|TL;DR|TLDR|TL\s*;\s*DR)[ \t]*:?[ \t]*(?:\*\*|__)?[ \t]*:?[ \t]*",
    re.I | re.M,
)


def canonical_section(name: str) -> str:
    """Map a heading as written ('tldr', 'TL ; DR', 'Plan') to its canonical section name."""
    upper = re.sub(r"\s+", "", name.upper())
    return "TL;DR" if upper in ("TLDR", "TL;DR") else upper


def render_sections(sections: dict[str, str], footer: str | None = None) -> str:
    """Render sections as Markdown with one heading each, in the canonical order, plus an optional footer."""
    parts: list[str] = []
    for name in SECTIONS:
        text = sections.get(name, "").strip()
        if name == "TL;DR":
            parts.append(f"**TL;DR:** {text}")
        else:
            parts.append(f"### {name}\n{text}")
    if footer:
        parts.append(footer)
    return "\n\n".join(parts)


def parse_sections(text: str) -> dict[str, str]:
    """Split an answer into its sections by heading; text before the first heading is dropped."""
    matches = list(_HEADING.finditer(text))
    sections: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = canonical_section(match.group(1))
        body = text[match.end() : end].strip()
        if name == "TL;DR":
            body = body.split("\n\n", 1)[0].strip()  # one paragraph; what follows is a footer
        if name in sections and sections[name]:
            sections[name] += "\n\n" + body
        else:
            sections[name] = body
    return sections


def missing_sections(sections: dict[str, str]) -> list[str]:
    """The canonical sections that are absent or empty."""
    return [name for name in SECTIONS if not sections.get(name, "").strip()]
