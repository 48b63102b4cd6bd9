"""Command plugins: Python files in a folder, and packages exposing the `hololoom.plugins` entry-point group.

A plugin is a module (or any callable) with `install(engine)` (or `setup(engine)`); it registers
commands with the decorator every capability uses:

    # <data dir>/plugins/deploy.py
    from hololoom_core.engine.commands import Arg

    def install(engine):
        @engine.commands.command("deploy", help="Deploy a service.", args=[Arg("service")])
        async def deploy(context):
            return f"Deploying {context.params['service']}"

A package registers itself in its `pyproject.toml`:

    [project.entry-points."hololoom.plugins"]
    deploy = "my_package.hololoom_plugin"        # a module with install(engine), or a function

A plugin that owns tables declares them, and uses them from its commands:

    MIGRATIONS = {"deploy_log": ["CREATE TABLE deploy_log (id INTEGER PRIMARY KEY, service TEXT)"]}

Plugins are imported before the store migrates (so their tables exist) and installed after.
A plugin that fails to import or install is reported as one line naming the file (and line when
known) and the problem; the other plugins still load.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hololoom_core.config import Config
    from hololoom_core.engine.pipeline import Engine

ENTRY_POINT_GROUP = "hololoom.plugins"


@dataclass(slots=True)
class PluginReport:
    """Which plugins loaded (name → where from) and the one-line problems of those that did not."""

    loaded: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _installer(target: Any) -> Callable[[Any], Any] | None:
    if isinstance(target, ModuleType):
        found = getattr(target, "install", None) or getattr(target, "setup", None)
        return found if callable(found) else None
    return target if callable(target) else None


def _where(exc: BaseException, source: str) -> str:
    """`file:line` of the deepest frame inside `source` (or just `source`)."""
    if isinstance(exc, SyntaxError) and exc.filename == source and exc.lineno:
        return f"{source}:{exc.lineno}"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == source:
            line = frame.lineno
    return f"{source}:{line}" if line else source


def _describe(exc: BaseException) -> str:
    text = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    return f"{type(exc).__name__}: {text}".strip().rstrip(":")


def _folder_candidates(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir()
                  if not path.name.startswith(("_", ".")) and
                  (path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").is_file())))


def plugin_inventory(config: Config) -> list[str]:
    """Names of the plugins the engine would load (folder files and entry points), without importing them."""
    names = [path.stem if path.suffix == ".py" else path.name
             for path in (_folder_candidates(config.plugins_dir) if config.plugins_dir.is_dir() else [])]
    if config.ops.entry_point_plugins:
        names += [f"{ep.name} (entry point)" for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)]
    return names


@dataclass(slots=True)
class LoadedPlugin:
    """A plugin that imported: its name, where it came from, its installer and the tables it declares."""

    name: str
    source: str
    installer: Callable[[Any], Any]
    migrations: dict[str, list[Any]] = field(default_factory=dict)
    problem_slot: int = 0  # where its install problem goes in the report, so problems keep the loading order


def _declared_migrations(target: Any, source: str) -> dict[str, list[Any]]:
    """A plugin's `MIGRATIONS = {"table_group": ["CREATE TABLE ...", ...]}`, checked for shape."""
    declared = getattr(target, "MIGRATIONS", None) if isinstance(target, ModuleType) else None
    if declared is None:
        return {}
    if not isinstance(declared, dict) or not all(
        isinstance(name, str) and isinstance(steps, list | tuple) for name, steps in declared.items()
    ):
        raise TypeError(f"{source}: MIGRATIONS must map a table-group name to a list of SQL scripts")
    return {name: list(steps) for name, steps in declared.items()}


def import_folder_plugins(folder: Path, report: PluginReport) -> list[LoadedPlugin]:
    """Import every `*.py` (and package folder) in `folder`; nothing is installed yet."""
    if not folder.is_dir():
        return []
    loaded: list[LoadedPlugin] = []
    for path in _folder_candidates(folder):
        name = path.stem if path.suffix == ".py" else path.name
        source = str(path if path.suffix == ".py" else path / "__init__.py")
        module_name = f"hololoom_plugins.{name}"
        try:
            spec = importlib.util.spec_from_file_location(
                module_name, source, submodule_search_locations=[str(path)] if path.is_dir() else None
            )
            if spec is None or spec.loader is None:
                report.problems.append(f"{source}: not an importable Python file")
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            installer = _installer(module)
            if installer is None:
                sys.modules.pop(module_name, None)
                report.problems.append(f"{source}: no install(engine) function; add one that registers commands")
                continue
            loaded.append(LoadedPlugin(name, source, installer, _declared_migrations(module, source),
                                       len(report.problems)))
        except Exception as exc:  # a broken plugin must not stop the engine
            sys.modules.pop(module_name, None)
            report.problems.append(f"{_where(exc, source)}: plugin '{name}' failed ({_describe(exc)})")
    return loaded


def import_entry_point_plugins(report: PluginReport, group: str = ENTRY_POINT_GROUP) -> list[LoadedPlugin]:
    """Load every installed package's `hololoom.plugins` entry point; nothing is installed yet."""
    loaded: list[LoadedPlugin] = []
    for entry_point in sorted(importlib.metadata.entry_points(group=group), key=lambda ep: ep.name):
        source = f"entry point {entry_point.name} = {entry_point.value}"
        try:
            target = entry_point.load()
            installer = _installer(target)
            if installer is None:
                report.problems.append(f"{source}: neither a function nor a module with install(engine)")
                continue
            loaded.append(LoadedPlugin(entry_point.name, source, installer, _declared_migrations(target, source),
                                       len(report.problems)))
        except Exception as exc:
            report.problems.append(f"{source}: failed ({_describe(exc)})")
    return loaded


def install_plugins(engine: Engine, plugins: list[LoadedPlugin], report: PluginReport) -> None:
    """Call each imported plugin's installer; one that fails is reported as one line, the others still load."""
    failures: list[tuple[int, str]] = []
    for plugin in plugins:
        try:
            plugin.installer(engine)
        except Exception as exc:
            if plugin.source.startswith("entry point"):
                failures.append((plugin.problem_slot, f"{plugin.source}: failed ({_describe(exc)})"))
            else:
                sys.modules.pop(f"hololoom_plugins.{plugin.name}", None)
                failures.append((plugin.problem_slot,
                                 f"{_where(exc, plugin.source)}: plugin '{plugin.name}' failed ({_describe(exc)})"))
            continue
        report.loaded[plugin.name] = plugin.source
    for slot, problem in reversed(failures):  # later plugins first, so earlier slots stay valid
        report.problems.insert(slot, problem)
