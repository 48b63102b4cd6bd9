"""What a package may do: its workflows validated like local ones, held to the local allow-lists and step budget.

A package never brings configuration: shell commands must match `workflows.shell_allow`, HTTP hosts
`workflows.http_allow_hosts`, and no workflow may compile to more steps than the budget. The report
lists everything the package will be able to do, for the confirmation before install.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hololoom_core.llm.runbooks import RunbookError, RunbookLibrary, load_markdown_runbook, load_runbook
from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.memory.patterns import PatternError, check_pattern_overlay
from hololoom_core.ops.commands.aliases import parse_alias_file
from hololoom_core.ops.workflows.library import load_file
from hololoom_core.ops.workflows.schema import WorkflowDefinition, WorkflowSchemaError

if TYPE_CHECKING:
    from hololoom_core.config import Config

TEMPLATE_RE = re.compile(r"\{\{.*?\}\}", re.S)


@dataclass(slots=True)
class PackagePermissions:
    """Everything a package's files will be able to do once installed."""

    workflows: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    shell_commands: list[str] = field(default_factory=list)
    http_hosts: list[str] = field(default_factory=list)
    incident_actions: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    listens_to: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    runbooks: list[str] = field(default_factory=list)
    runbooks_left_out: list[str] = field(default_factory=list)  # ids a shipped runbook already has
    patterns: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per kind of power, for the confirmation prompt."""
        def show(items: list[str]) -> str:
            return ", ".join(f"`{item}`" for item in items) if items else "none"

        return [
            f"workflows: {show(self.workflows)}",
            f"chat commands: {show(self.commands)}",
            f"shell commands: {show(self.shell_commands)}",
            f"HTTP hosts: {show(self.http_hosts)}",
            f"incident actions: {show(self.incident_actions)}",
            f"schedules: {show(self.schedules)}",
            f"starts on: {show(self.listens_to)}",
            f"aliases: {show(self.aliases)}",
            f"runbooks: {show(self.runbooks)}"
            + (f" (left out, the id is a shipped runbook's: {show(self.runbooks_left_out)})"
               if self.runbooks_left_out else "")
            + f"; patterns: {show(self.patterns)}",
        ]

    def as_dict(self) -> dict[str, list[str]]:
        """JSON-ready form."""
        return {key: list(getattr(self, key)) for key in self.__slots__}


def _placeholder(text: str) -> str:
    return TEMPLATE_RE.sub("x", text)


def check_workflow(definition: WorkflowDefinition, config: Config, where: str, report: PackagePermissions) -> None:
    """Hold one parsed workflow to the local policy and add what it can do to `report`."""
    budget = min(config.marketplace.max_steps_per_workflow, config.workflows.max_steps_per_run)
    if len(definition.program) > budget:
        raise MarketplaceError(f"{where}: workflow '{definition.name}' has {len(definition.program)} steps, more "
                               f"than the budget of {budget} (marketplace.max_steps_per_workflow); refused")
    report.workflows.append(definition.name)
    for trigger in definition.triggers:
        if trigger.kind == "command":
            report.commands.append("!" + trigger.value)
        elif trigger.kind == "cron":
            report.schedules.append(f"{definition.name}: {trigger.value}")
        else:
            report.listens_to.append(f"{definition.name}: {trigger.kind} {trigger.value}")
    for op in definition.program:
        at = f"{where}:{op.line}"
        if op.kind == "shell":
            command = str(op.value)
            allowed = config.workflows.shell_allow
            if not any(fnmatchcase(_placeholder(command), pattern) for pattern in allowed):
                raise MarketplaceError(f"{at}: step {op.label} runs `{command}`, which workflows.shell_allow does "
                                       "not allow; a package cannot widen the allow-list (add it there first)")
            report.shell_commands.append(command)
        elif op.kind == "http":
            url = str(op.value.get("url", "")) if isinstance(op.value, dict) else str(op.value)
            parts = urlsplit(url)
            host = parts.hostname or ""
            if "{{" in parts.netloc or not host:
                raise MarketplaceError(f"{at}: step {op.label} calls a URL whose host is computed at run time "
                                       f"({url}); package workflows must name their hosts")
            if not any(fnmatchcase(host, pattern) for pattern in config.workflows.http_allow_hosts):
                raise MarketplaceError(f"{at}: step {op.label} calls host {host}, which workflows.http_allow_hosts "
                                       "does not allow; a package cannot widen the allow-list")
            report.http_hosts.append(host)
        elif op.kind == "incident":
            report.incident_actions.append(str(op.value))
        elif op.kind == "call":
            report.calls.append(str(op.value))


def check_package_files(root: Path, files: list[str], config: Config, where: str) -> PackagePermissions:
    """Validate every file of an unpacked package with the same entry points as local files."""
    report = PackagePermissions()
    for relative in sorted(files):
        path = root / relative
        kind = relative.split("/", 1)[0]
        if kind == "workflows":
            try:
                definition = load_file(path)
            except WorkflowSchemaError as exc:
                raise MarketplaceError(f"{where}: {relative}:{exc.line or 1}: {exc.problem}") from None
            check_workflow(definition, config, f"{where}: {relative}", report)
        elif kind == "aliases":
            loaded = parse_alias_file(path.read_text(encoding="utf-8"), relative)
            if loaded.problems:
                raise MarketplaceError(f"{where}: {loaded.problems[0]}")
            report.aliases += [alias.name for alias in loaded.aliases]
        elif kind == "runbooks":  # YAML: the shipped runbooks' schema; Markdown: a title and some steps
            text = _text(path, where, relative)
            load = load_markdown_runbook if relative.endswith(".md") else load_runbook
            try:
                runbook = load(path, text)
            except RunbookError as exc:
                raise MarketplaceError(f"{where}: {str(exc).replace(str(path), relative)}") from None
            if runbook.id in RunbookLibrary.from_directory().runbooks:  # the engine never lets a package replace one
                report.runbooks_left_out.append(runbook.id)
            else:
                report.runbooks.append(runbook.id)
        elif kind == "patterns":
            try:
                check_pattern_overlay(_text(path, where, relative), relative)  # the pattern book's own check
            except PatternError as exc:
                raise MarketplaceError(f"{where}: {exc}") from None
            report.patterns.append(Path(relative).stem)
        else:
            _text(path, where, relative)
    for key in ("shell_commands", "http_hosts", "incident_actions"):
        setattr(report, key, sorted(set(getattr(report, key))))
    return report


def _text(path: Path, where: str, relative: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MarketplaceError(f"{where}: {relative} is not UTF-8 text; refused") from None
