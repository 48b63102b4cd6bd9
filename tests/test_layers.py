"""The import layers of hololoom_core: no cycles between sub-packages, no import from a lower layer upwards."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import networkx as nx

import hololoom_core
from hololoom_core.layers import LAYERS, layer_of

PACKAGE_ROOT = Path(hololoom_core.__file__).parent


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _RuntimeImports(ast.NodeVisitor):
    """Collects `hololoom_core.*` imports with their line, skipping `if TYPE_CHECKING:` bodies."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: list[tuple[str, int]] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [(alias.name, node.lineno) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.module.split(".")
            base = parts if self.is_package else parts[:-1]
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target == "hololoom_core":  # `from hololoom_core import doctor` names the sub-package in the alias
            self.found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
        else:
            self.found.append((target, node.lineno))


def _unit(module: str) -> str:
    """The layered unit of a module: its sub-package, or the top-level module's own name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> list[tuple[str, str, str, int, str]]:
    """(from unit, to unit, file, line, imported name) for every runtime import between two units."""
    edges = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        relative = path.relative_to(PACKAGE_ROOT.parent)
        is_package = path.name == "__init__.py"
        module = ".".join((relative.parent if is_package else relative.with_suffix("")).parts)
        visitor = _RuntimeImports(module, is_package)
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        source = _unit(module)
        for target, line in visitor.found:
            if target != "hololoom_core" and not target.startswith("hololoom_core."):
                continue
            destination = "__init__" if target == "hololoom_core" else _unit(target)
            if destination != source:
                edges.append((source, destination, str(relative), line, target))
    return edges


def test_every_sub_package_has_a_layer() -> None:
    units = {_unit(".".join(p.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts))
             for p in PACKAGE_ROOT.rglob("*.py")}
    unplaced = sorted(unit for unit in units if layer_of(unit) is None)
    assert not unplaced, f"add these to LAYERS in hololoom_core/layers.py: {unplaced}"
    placed = [name for layer in LAYERS for name in layer]
    assert len(placed) == len(set(placed)), "a name appears in two layers"


def test_no_import_goes_up_a_layer() -> None:
    upward = []
    for source, destination, file, line, target in _imports():
        source_layer, destination_layer = layer_of(source), layer_of(destination)
        if source_layer is not None and destination_layer is not None and destination_layer > source_layer:
            upward.append(f"{file}:{line} imports {target} ({source} is below {destination})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_cycle_between_sub_packages() -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, destination, file, line, target in _imports():
        graph.add_edge(source, destination)
        where[(source, destination)].append(f"{file}:{line} imports {target}")
    cycles = list(nx.simple_cycles(graph))
    described = []
    for cycle in cycles:
        steps = list(zip(cycle, cycle[1:] + cycle[:1], strict=True))
        described.append(" -> ".join(cycle + cycle[:1]) + ": " + "; ".join(where[step][0] for step in steps))
    assert not cycles, "import cycles between sub-packages:\n" + "\n".join(described)


def test_the_walker_sees_function_imports_and_skips_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from hololoom_core.cli import main\n"
        "def later():\n    from hololoom_core.doctor import run_checks\n"
    )
    visitor = _RuntimeImports("hololoom_core.store.example", False)
    visitor.visit(ast.parse(source))
    targets = [target for target, _ in visitor.found]
    assert "hololoom_core.doctor" in targets
    assert not any(target.startswith("hololoom_core.cli") for target in targets)
