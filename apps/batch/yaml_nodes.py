"""YAML that remembers where each value was written, so a pipeline error can name its line.

``yaml.safe_load`` throws the marks away; composing the node tree keeps them. :func:`parse_yaml`
returns :class:`Node` objects: a value plus its 1-based line, with mappings and lists of nodes inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


class YamlSyntaxError(ValueError):
    """The text is not valid YAML (or uses a feature pipelines do not allow); the message names the line."""


@dataclass(frozen=True)
class Node:
    """A parsed YAML value and the line it starts on.

    Attributes
    ----------
    value : a scalar (str, int, float, bool, None), a ``dict[str, Node]`` or a ``list[Node]``.
    line : 1-based line of the value in the source.
    key_lines : for mappings, the 1-based line of each key.
    """

    value: Any
    line: int
    key_lines: dict[str, int] | None = None

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    @property
    def is_scalar(self) -> bool:
        return not (self.is_mapping or self.is_list)

    def plain(self) -> Any:
        """The value with every nested node unwrapped into plain Python."""
        if self.is_mapping:
            return {key: node.plain() for key, node in self.value.items()}
        if self.is_list:
            return [node.plain() for node in self.value]
        return self.value


def parse_yaml(text: str, source: str = "<string>") -> Node | None:
    """Parse one YAML document into :class:`Node` objects; None for an empty document.

    Raises
    ------
    YamlSyntaxError : invalid YAML, a duplicate key or a non-text key. An alias (``*name``) is
        allowed and reports the line of its anchor; so is a merge key (``<<: *name`` or ``<<: [*a,
        *b]``): the anchored mapping's keys are added where the mapping does not set them itself.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expanded_size(root, source)
        return _convert(loader, root, source)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 0
        context = ""
        if error.context and error.context_mark is not None and error.context_mark.line + 1 != line:
            context = f" ({error.context} started on line {error.context_mark.line + 1})"
        raise YamlSyntaxError(f"{source}:{line}: invalid YAML: {error.problem or error}{context}") from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(f"{source}: invalid YAML: {error}") from None
    finally:
        loader.dispose()


_MERGE_TAG = "tag:yaml.org,2002:merge"
# Values a document may expand to through its aliases: a pipeline is written, not generated, and a
# "billion laughs" file (aliases of aliases of lists) would otherwise take the memory of the machine.
MAX_EXPANDED_VALUES = 100_000


def _check_expanded_size(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases expand it beyond :data:`MAX_EXPANDED_VALUES` values, or that
    contains itself (an alias inside its own anchor); counted once per distinct node, so this is quick."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise YamlSyntaxError(f"{source}:{node.start_mark.line + 1}: an alias refers to the value that contains it")
        open_nodes.add(key)
        children = [item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode) else (
            node.value if isinstance(node, yaml.SequenceNode) else []
        )
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_VALUES:
                raise YamlSyntaxError(
                    f"{source}:{node.start_mark.line + 1}: this value expands to more than {MAX_EXPANDED_VALUES:,} values through "
                    "its aliases ('*name'); write the jobs out instead"
                )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root)


def _merge(loader: yaml.SafeLoader, value: yaml.Node, merged: Node, source: str, line: int) -> Node:
    """``merged`` with the keys of a merge key's value (a mapping, or a list of them: the first wins) added."""
    mappings = value.value if isinstance(value, yaml.SequenceNode) else [value]
    values, key_lines = dict(merged.value), dict(merged.key_lines)
    for mapping in mappings:
        if not isinstance(mapping, yaml.MappingNode):
            raise YamlSyntaxError(f"{source}:{line}: a merge key ('<<') takes a mapping or a list of mappings, like '<<: *defaults'")
        converted = _convert(loader, mapping, source)
        for key, node in converted.value.items():
            if key not in values:
                values[key], key_lines[key] = node, converted.key_lines[key]
    return Node(values, merged.line, key_lines)


def _convert(loader: yaml.SafeLoader, node: yaml.Node, source: str) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        values: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        merged = Node({}, line, {})
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                merged = _merge(loader, value_node, merged, source, key_line)
                continue
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                raise YamlSyntaxError(f"{source}:{key_line}: keys must be text, got {key!r}")
            if key in values:
                raise YamlSyntaxError(f"{source}:{key_line}: duplicate key {key!r} (first on line {key_lines[key]})")
            values[key] = _convert(loader, value_node, source)
            key_lines[key] = key_line
        inherited = {key: value for key, value in merged.value.items() if key not in values}
        return Node({**inherited, **values}, line, {**{key: merged.key_lines[key] for key in inherited}, **key_lines})
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(loader, item, source) for item in node.value], line)
    return Node(loader.construct_object(node), line)
