"""Reading YAML the way every HoloLoom file reader needs it: data plus line numbers for one-line errors.

Config, runbooks, scenarios, workflows, aliases, pattern files and ultraprompt specs all report
problems as `file:line: what is wrong`; this module is the one place that parses YAML with its
node tree, turns syntax errors into a line and a problem, and finds the line of a key.
"""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it (it is ~10x faster); the pure-Python one otherwise.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(Exception):
    """A YAML syntax error: the 1-based line where it was found (None when unknown) and the problem."""

    def __init__(self, line: int | None, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem

    def where(self, source: object) -> str:
        """`source:line`, or just the source when the line is unknown."""
        return f"{source}:{self.line}" if self.line else str(source)


def parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML text once into its node tree (for `yaml_line`) and the plain data built from that tree.

    Raises `YamlSyntaxError` with the line of the problem.
    """
    loader = _Loader(text)
    try:
        document = loader.get_single_node()
        data = loader.construct_document(document) if document is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlSyntaxError(mark.line + 1 if mark is not None else None, str(problem))
    finally:
        loader.dispose()
    return data, document


def yaml_line(document: yaml.Node | None, location: tuple[Any, ...]) -> int | None:
    """Return the 1-based line of the YAML node at `location` (keys and indexes), or the nearest parent."""
    node = document
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    found = (key_node, value_node)
                    break
            if found is None:
                return line
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
