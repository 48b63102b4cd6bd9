"""Reading YAML the way every HoloLoom file reader needs it: data plus line numbers for one-line errors.

Config, runbooks, scenarios, workflows, aliases, pattern files and ultraprompt specs all report
problems as `file:line: what is wrong`; this module is the one place that parses YAML with its
node tree, turns syntax errors into a line and a problem, and finds the line of a key.

It also refuses what YAML allows but no HoloLoom file needs: a key given twice in one mapping (the
last one would silently win) and aliases (`*name`) that expand the document past
`MAX_ALIAS_EXPANSION` extra nodes (a "billion laughs" bomb: a few hundred bytes of nested anchors
that would build millions of objects). Both are found on the node tree, before anything is built,
in time linear in the size of the text.
"""

from __future__ import annotations

from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it (it is ~10x faster); the pure-Python one otherwise.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# How many nodes alias expansion may add beyond the nodes written in the text.
MAX_ALIAS_EXPANSION = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


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
        if document is not None:
            check_node_tree(document)
        data = loader.construct_document(document) if document is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlSyntaxError(mark.line + 1 if mark is not None else None, str(problem))
    finally:
        loader.dispose()
    return data, document


def check_node_tree(document: yaml.Node, max_expansion: int = MAX_ALIAS_EXPANSION) -> None:
    """Refuse duplicate keys and alias bombs in a composed document; raises `YamlSyntaxError` with the line.

    The expanded size of every node is computed once (aliases share their anchor's node object), so
    the check costs one pass over the nodes actually written, however large the expansion would be.
    """
    expanded: dict[int, int] = {}
    distinct = 0
    in_progress: set[int] = set()
    # An explicit stack (no recursion): deeply nested documents must not hit Python's recursion limit.
    stack: list[tuple[yaml.Node, bool]] = [(document, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            in_progress.discard(key)
            size = 1
            for child in _children(node):
                size += expanded[id(child)]
            expanded[key] = size
            if size - distinct > max_expansion:
                raise YamlSyntaxError(node.start_mark.line + 1, f"aliases expand the document past "
                                      f"{max_expansion:,} extra nodes; write the values out instead of nesting "
                                      "anchors")
            continue
        if key in expanded:
            continue
        if key in in_progress:
            raise YamlSyntaxError(node.start_mark.line + 1, "an alias refers to its own anchor (a recursive "
                                  "structure); write the value out")
        in_progress.add(key)
        distinct += 1
        if isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(node)
        stack.append((node, True))
        for child in _children(node):
            if id(child) not in expanded:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_duplicate_keys(node: yaml.MappingNode) -> None:
    seen: dict[str, int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        line = key_node.start_mark.line + 1
        first = seen.get(key_node.value)
        if first is not None:
            raise YamlSyntaxError(line, f"duplicate key '{key_node.value}' (first given on line {first}); "
                                  "keep one of them")
        seen[key_node.value] = line


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
