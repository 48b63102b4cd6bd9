"""Splitting a long answer into its TL;DR and its sections, so the Chat tab can show them collapsed."""

from __future__ import annotations

import re
from dataclasses import dataclass

LONG_ANSWER_LINES = 45  # answers longer than this start collapsed, with their TL;DR shown
_HEADING = re.compile(r"^#{1,3}\s+(?P<title>\S.*?)\s*$")
_TLDR = re.compile(r"^\s*\*\*TL;DR:?\*\*:?\s*(?P<text>.*)$", re.I)


@dataclass(frozen=True, slots=True)
class AnswerParts:
    """A Markdown answer cut at its headings: the TL;DR line, each (title, body) section, and the rest."""

    tldr: str
    sections: tuple[tuple[str, str], ...]
    footer: str


def is_long(markdown: str, limit: int = LONG_ANSWER_LINES) -> bool:
    """Whether an answer has more lines than fit comfortably on one screen."""
    return markdown.count("\n") + 1 > limit


def split_answer(markdown: str) -> AnswerParts:
    """The answer's TL;DR, its `###` sections in order and the text after the TL;DR (e.g. the sources line)."""
    sections: list[tuple[str, list[str]]] = []
    tldr: list[str] = []
    footer: list[str] = []
    target = footer  # text before the first heading is kept with the footer
    for line in markdown.splitlines():
        tldr_match = _TLDR.match(line)
        heading = _HEADING.match(line)
        if tldr_match:
            tldr.append(tldr_match.group("text"))
            target = footer
        elif heading and heading.group("title").upper().startswith("TL;DR"):
            target = tldr
        elif heading:
            sections.append((heading.group("title"), []))
            target = sections[-1][1]
        else:
            target.append(line)
    return AnswerParts(
        tldr=" ".join(part.strip() for part in tldr if part.strip()),
        sections=tuple((title, "\n".join(body).strip()) for title, body in sections),
        footer="\n".join(footer).strip(),
    )
