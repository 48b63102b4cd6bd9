"""The permission table: every chat command and what running it needs, built from the live command registry.

docs/operations.md holds this table between `<!-- permission-table -->` markers; a test rebuilds it from
a default engine and fails when the two differ, so the documentation cannot drift from the code.
Regenerate it with `python -m hololoom_core.engine.permission_table`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hololoom_core.engine.commands import CommandSpec
    from hololoom_core.engine.pipeline import Engine

# Actions a workflow step does that no chat command does by hand: checked under these names.
STEP_ROWS = (
    ("workflow shell", "a workflow's `shell` step", "permission `shell` (and `workflows.shell_allow`)"),
    ("workflow http", "a workflow's `http` step", "permission `http` (and `workflows.http_allow_hosts`)"),
)
START, END = "<!-- permission-table:start -->", "<!-- permission-table:end -->"


def _needs(spec: CommandSpec, parent: CommandSpec | None) -> str:
    parts: list[str] = []
    if spec.admin_only or (parent is not None and parent.admin_only):
        parts.append("admins only")
    permission = spec.permission or (parent.permission if parent is not None else None)
    if permission:
        parts.append(f"permission `{permission}`")
    if spec.also_checks:
        parts.append("checked as " + ", ".join(f"`{name}`" for name in spec.also_checks))
    return "; ".join(parts) or "everyone"


def permission_rows(engine: Engine) -> list[tuple[str, str, str]]:
    """(command, aliases, what it needs) for every registered command and subcommand, sorted by command."""
    rows: list[tuple[str, str, str]] = []
    for spec in engine.commands.all():
        if spec.function is not None or not spec.subcommands:
            rows.append((spec.name, ", ".join(spec.aliases), _needs(spec, None)))
        for child in sorted(spec.subcommands.values(), key=lambda item: item.name):
            rows.append((child.full_name, ", ".join(child.aliases), _needs(child, spec)))
    return sorted(rows)


def render_table(engine: Engine) -> str:
    """The Markdown table, between its markers, for docs/operations.md."""
    prefix = engine.config.bot.command_prefix
    lines = [START, "| command | aliases | needs |", "|---|---|---|"]
    lines += [f"| `{prefix}{name}` | {aliases or '—'} | {needs} |" for name, aliases, needs in
              permission_rows(engine)]
    lines += [f"| {what} (`{name}`) | — | {needs} |" for name, what, needs in STEP_ROWS]
    lines.append(END)
    return "\n".join(lines)


async def _default_table() -> str:
    from hololoom_core.config import load_config
    from hololoom_core.engine.pipeline import Engine

    with tempfile.TemporaryDirectory() as directory:
        engine = Engine(load_config(None, data_dir=Path(directory), environ={}))
        try:
            await engine.start()
            return render_table(engine)
        finally:
            await engine.close()


def default_table() -> str:
    """The table of a default installation (every capability, no plugins or aliases)."""
    return asyncio.run(_default_table())


if __name__ == "__main__":
    print(default_table())
