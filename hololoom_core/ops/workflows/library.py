"""Loads workflows from the shipped folder and the user's folder; a bad file becomes one problem line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hololoom_core.ops.workflows.schema import WorkflowDefinition, WorkflowSchemaError, parse_workflow

SHIPPED_DIRECTORY = Path(__file__).resolve().parent / "shipped"
WORKFLOW_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """A workflow file that could not be used (or a reference that will fail), as `file:line: problem`."""

    source: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.problem}" if self.line else f"{self.source}: {self.problem}"


def load_file(path: Path) -> WorkflowDefinition:
    """Read and validate one workflow file; problems raise `WorkflowSchemaError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowSchemaError(str(path), None, f"cannot read the file ({exc})")
    return parse_workflow(text, str(path))


class WorkflowLibrary:
    """The workflows this engine knows, by name, and the problems found while loading them."""

    def __init__(self, definitions: dict[str, WorkflowDefinition] | None = None,
                 problems: list[LoadProblem] | None = None) -> None:
        self.definitions: dict[str, WorkflowDefinition] = dict(definitions or {})
        self.problems: list[LoadProblem] = list(problems or [])
        self.packages: dict[str, str] = {}  # workflow name -> the marketplace package it came from

    @classmethod
    def load(cls, directories: list[Path], *, shipped: bool = True,
             packages: list[tuple[str, Path]] | None = None) -> WorkflowLibrary:
        """Load the shipped workflows, installed packages' folders, then each directory in order.

        A user's file may replace a shipped or package workflow; a package may not replace a name
        that is already taken (that file becomes a problem line).
        """
        library = cls()
        folders: list[tuple[Path, str | None]] = [(SHIPPED_DIRECTORY, None)] if shipped else []
        folders += [(Path(folder), package) for package, folder in packages or []]
        folders += [(Path(d).expanduser(), None) for d in directories]
        for folder, package in folders:
            if not folder.is_dir():
                continue
            seen_here: dict[str, str] = {}
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in WORKFLOW_SUFFIXES or not path.is_file():
                    continue
                try:
                    definition = load_file(path)
                except WorkflowSchemaError as exc:
                    library.problems.append(LoadProblem(exc.source, exc.line, exc.problem))
                    continue
                if definition.name in seen_here:
                    library.problems.append(LoadProblem(
                        str(path), 1, f"workflow name '{definition.name}' is already used by {seen_here[definition.name]}; "
                        "this file is ignored"))
                    continue
                if package is not None and definition.name in library.definitions:
                    library.problems.append(LoadProblem(
                        str(path), 1, f"package {package}: workflow name '{definition.name}' is already taken by "
                        f"{library.definitions[definition.name].source}; this file is ignored"))
                    continue
                seen_here[definition.name] = str(path)
                library.definitions[definition.name] = definition
                if package is None:
                    library.packages.pop(definition.name, None)
                else:
                    library.packages[definition.name] = package
        library.check_calls()
        return library

    def check_calls(self) -> None:
        """Report `call` steps naming unknown workflows and call cycles (the workflows still load)."""
        for definition in self.definitions.values():
            for target, line in definition.calls:
                if target not in self.definitions:
                    self.problems.append(LoadProblem(definition.source, line,
                                                     f"calls unknown workflow '{target}'; that step will fail"))
        for name in sorted(self.definitions):
            cycle = self._cycle_from(name)
            if cycle:
                definition = self.definitions[name]
                self.problems.append(LoadProblem(definition.source, next(
                    (line for target, line in definition.calls if target == cycle[1]), None),
                    f"calls itself through {' → '.join(cycle)}; the run stops at workflows.max_call_depth"))

    def _cycle_from(self, start: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            name, path = stack.pop()
            definition = self.definitions.get(name)
            if definition is None:
                continue
            for target, _ in definition.calls:
                if target == start:
                    return path + [target]
                if target not in path:
                    stack.append((target, path + [target]))
        return None

    def get(self, name: str) -> WorkflowDefinition | None:
        """The workflow with this name."""
        return self.definitions.get(name)

    def all(self) -> list[WorkflowDefinition]:
        """Every workflow, by name."""
        return [self.definitions[name] for name in sorted(self.definitions)]

    def __len__(self) -> int:
        return len(self.definitions)
