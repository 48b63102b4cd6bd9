"""Render the SVG screenshots to PNG through headless Chromium, so the PNGs look like the terminal.

    python screenshots/render.py [SVG ...]      (default: every screenshots/*.svg)

Textual's SVGs name "Fira Code" then `monospace`, and place every run of text with `textLength` on the
cell grid; a browser honours both, so inline-code boxes line up with their text and borders meet. It
needs Debian's `chromium` plus a monospace and an emoji font (`apt-get install chromium fonts-dejavu
fonts-noto-color-emoji`); without them the emoji come out as empty boxes.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                  "--default-background-color=00000000", "--no-first-run")
_VIEWBOX = re.compile(r'viewBox="0 0 ([\d.]+) ([\d.]+)"')


class RenderError(Exception):
    """An SVG that could not be rendered, in one line."""


def chromium() -> str:
    """The Chromium binary, or RenderError saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RenderError("Chromium is not installed: apt-get install chromium fonts-dejavu fonts-noto-color-emoji")


def svg_size(svg: Path) -> tuple[int, int]:
    """The pixel size of a Textual SVG screenshot (from its viewBox)."""
    match = _VIEWBOX.search(svg.read_text(encoding="utf-8")[:400])
    if match is None:
        raise RenderError(f"{svg}: no viewBox, not a Textual screenshot")
    return math.ceil(float(match.group(1))), math.ceil(float(match.group(2)))


def render(svg: Path, png: Path | None = None, binary: str | None = None) -> Path:
    """Render one SVG to a PNG of the same size beside it (or at `png`)."""
    target = png or svg.with_suffix(".png")
    width, height = svg_size(svg)
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [binary or chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={target.resolve()}", svg.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    if result.returncode != 0 or not target.exists():
        raise RenderError(f"{svg}: Chromium failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    return target


def main(argv: list[str]) -> int:
    """Render the given SVGs (default: all in screenshots/)."""
    svgs = [Path(arg) for arg in argv] or sorted(HERE.glob("*.svg"))
    try:
        binary = chromium()
        for svg in svgs:
            print(f"wrote {render(svg, binary=binary)}")
    except RenderError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
