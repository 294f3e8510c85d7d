"""Strict YAML reading: the safe loader, the line and column of every key, and limits.

The loader is ``yaml.SafeLoader`` with three changes: ``1e-4`` reads as a number (YAML 1.2
style; plain YAML 1.1 reads it as a string), dates stay strings (specs hold JSON values only),
and nesting deeper than ``MAX_DEPTH`` is refused while composing. The node tree is converted
here rather than by the constructor, so duplicate keys, non-string keys and alias bombs are
caught with their line and column.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trainspec.errors import SpecError
from trainspec.spec._interp import expand_here
from trainspec.spec._limits import MAX_DEPTH, MAX_NODES
from trainspec.spec._paths import KeyPath, Origin, Origins, drop_subtree

__all__ = ["FLOAT_RE", "SpecLoader", "parse_yaml", "resolver_table"]

FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"

# YAML 1.1's float forms, plus exponents without a dot or sign (1e-4, 1E5, 2.5e3).
FLOAT_RE = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)

_Table = dict[Any, list[tuple[str, re.Pattern[str]]]]


def resolver_table(*, drop: frozenset[str]) -> _Table:
    """SafeLoader's implicit resolvers without the tags in ``drop``, plus ``FLOAT_RE``."""
    table: _Table = {
        first: [(tag, rx) for tag, rx in entries if tag not in drop]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for first in "-+0123456789.":
        table.setdefault(first, []).insert(0, (FLOAT_TAG, FLOAT_RE))
    return table


class _TooDeep(Exception):
    def __init__(self, mark: Any) -> None:
        super().__init__()
        self.mark = mark


class SpecLoader(yaml.SafeLoader):
    """The safe loader used for every spec; see the module docstring for what differs."""

    yaml_implicit_resolvers = resolver_table(drop=frozenset({FLOAT_TAG, _TIMESTAMP_TAG}))

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self._depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _error(message: str, source: str, mark: Any = None, hint: str | None = None) -> SpecError:
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return SpecError.single(message, file=source, line=line, column=column, hint=hint)


# PyYAML's problem texts, as one plain sentence each (first match wins).
_PLAIN = (
    ("'\\t'", "a tab is used for indentation, and YAML allows spaces only"),
    (
        "mapping values are not allowed",
        "a ':' appears where a plain value was expected: this "
        "line is indented more than the key above it, or a value holding ': ' needs quotes",
    ),
    (
        "could not find expected ':'",
        "a key has no ':' after it, or a line is indented differently from the keys around it",
    ),
    ("did not find expected key", "a line is indented differently from the keys around it"),
    ("expected <block end>", "a line is indented differently from the keys around it"),
    ("did not find expected '-'", "a list item is indented differently from the items around it"),
    ("found undefined alias", "an alias (*name) is used before any anchor (&name) defines it"),
    ("found unexpected end of stream", "a quoted string or a bracket is not closed"),
    ("expected ',' or ']'", "a [list] is not closed, or its items are not separated by commas"),
    ("expected ',' or '}'", "a {mapping} is not closed, or its items are not separated by commas"),
    (
        "found unknown escape character",
        "a double-quoted string holds an unknown escape "
        "(write \\\\ for a backslash, or use single quotes)",
    ),
    ("cannot start any token", "a character here cannot start a value; quote the value"),
)


def _plain_problem(exc: yaml.MarkedYAMLError) -> str:
    text = f"{exc.problem or ''} {exc.context or ''}"
    for needle, sentence in _PLAIN:
        if needle in text:
            return sentence
    return f"the YAML cannot be read ({exc.problem or exc})"


def _caret(text: str, mark: Any) -> str:
    """The offending line and a caret under the column, indented under the message."""
    lines = text.splitlines()
    if mark is None or not 0 <= mark.line < len(lines):
        return ""
    line = lines[mark.line].replace("\t", " ")
    return f"\n    {line}\n    {' ' * mark.column}^"


def _syntax_error(exc: yaml.YAMLError, source: str, text: str) -> SpecError:
    if isinstance(exc, yaml.constructor.ConstructorError):
        return _error(f"cannot read this value: {exc.problem}", source, exc.problem_mark)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        message = f"YAML syntax error: {_plain_problem(exc)}{_caret(text, mark)}"
        return _error(message, source, mark)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return SpecError.single(
            f"the character U+{int(exc.character):04X} is not allowed in YAML",
            file=source,
            line=line,
            column=column,
            hint="remove control characters; a spec is plain text",
        )
    return _error(f"YAML error: {exc}", source)


def parse_yaml(text: str, source: str, here: str) -> tuple[Any, Origins]:
    """Parse one YAML document into plain data and the origin of every key and list item.

    Returns ``(None, {})`` for a document with no content. ``${here}`` in strings becomes
    ``here``. Every problem is raised as a ``SpecError`` citing ``source:line:column``.
    """
    try:
        loader = SpecLoader(text)
    except yaml.YAMLError as exc:  # the reader checks every character up front
        raise _syntax_error(exc, source, text) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_size(node, source)
        converter = _Converter(loader, source, here)
        value = converter.value(node, ())
        return value, converter.origins
    except _TooDeep as exc:
        raise _error(
            f"nesting is deeper than the limit of {MAX_DEPTH} levels",
            source,
            exc.mark,
            "flatten the structure; a spec never needs this depth",
        ) from None
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, source, text) from None
    finally:
        loader.dispose()


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_size(root: Node, source: str) -> None:
    """Refuse alias bombs and recursive aliases before anything is expanded.

    Counts the values the tree expands to (aliases counted each time they are used) with a
    memo per node, so the count itself never expands anything.
    """
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded count, height)
    active: set[int] = set()

    def visit(node: Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in active:
            raise _error("an alias refers to a value that contains it", source, node.start_mark)
        if key not in memo:
            active.add(key)
            count, height = 1, 0
            for child in _children(node):
                c, h = visit(child, depth + 1)
                count, height = count + c, max(height, h + 1)
            active.discard(key)
            memo[key] = (count, height)
        count, height = memo[key]
        if depth + height > MAX_DEPTH:
            raise _TooDeep(node.start_mark)
        if count > MAX_NODES:
            raise _error(
                f"aliases expand this file to more than {MAX_NODES:,} values",
                source,
                node.start_mark,
                "this looks like an alias bomb; write the values out or use 'extends'",
            )
        return memo[key]

    visit(root, 0)


class _Converter:
    """Node tree -> plain data, recording the origin of every key and list item."""

    def __init__(self, loader: SpecLoader, source: str, here: str) -> None:
        self.loader = loader
        self.source = source
        self.here = here
        self.origins: Origins = {(): Origin(source)}

    def _mark(self, path: KeyPath, node: Node) -> None:
        mark = node.start_mark
        self.origins[path] = Origin(self.source, mark.line + 1, mark.column + 1)

    def value(self, node: Node, path: KeyPath) -> Any:
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            self._plain_tag(node, _SEQ_TAG, "list")
            items = []
            for index, child in enumerate(node.value):
                self._mark((*path, index), child)
                items.append(self.value(child, (*path, index)))
            return items
        assert isinstance(node, MappingNode)
        return self.mapping(node, path)

    def _plain_tag(self, node: Node, tag: str, what: str) -> None:
        if node.tag != tag:
            raise _error(
                f"the YAML tag {node.tag!r} is not supported",
                self.source,
                node.start_mark,
                f"write a plain {what}; specs hold strings, numbers, true/false, null, lists "
                "and mappings",
            )

    def scalar(self, node: ScalarNode) -> Any:
        value = self.loader.construct_object(node)
        if isinstance(value, str):
            return expand_here(value, self.here)
        if value is None or isinstance(value, bool | int | float):
            return value
        raise _error(
            f"a value of type {type(value).__name__} (tag {node.tag!r}) is not supported",
            self.source,
            node.start_mark,
            "specs hold strings, numbers, true/false, null, lists and mappings",
        )

    def key(self, node: Node) -> str:
        value = self.scalar(node) if isinstance(node, ScalarNode) else node
        if not isinstance(value, str):
            shown = "a list or mapping" if isinstance(value, Node) else f"{value!r}"
            raise _error(
                f"keys must be strings; found {shown}",
                self.source,
                node.start_mark,
                "put the key in quotes (YAML reads yes/no/on/off as booleans)",
            )
        return value

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        self._plain_tag(node, _MAP_TAG, "mapping")
        merges = [v for k, v in node.value if k.tag == _MERGE_TAG]
        out: dict[str, Any] = {}
        for source in merges:
            for key, value in self.merged(source, path).items():
                out.setdefault(key, value)
        seen: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.key(key_node)
            if key in seen:
                first = seen[key].line + 1
                raise _error(
                    f"duplicate key '{key}' (first at line {first}, again at line "
                    f"{key_node.start_mark.line + 1})",
                    self.source,
                    key_node.start_mark,
                    "keep one; a repeated key would silently replace the first",
                )
            seen[key] = key_node.start_mark
            if key in out:  # replaces a merged-in value: forget the origins inside it
                drop_subtree(self.origins, (*path, key), out[key])
            self._mark((*path, key), key_node)
            out[key] = self.value(value_node, (*path, key))
        return out

    def merged(self, node: Node, path: KeyPath) -> dict[str, Any]:
        """The keys a YAML merge (``<<: *base`` or ``<<: [*a, *b]``) brings in; first wins."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        out: dict[str, Any] = {}
        for source in sources:
            if not isinstance(source, MappingNode):
                raise _error("'<<' merges mappings only", self.source, source.start_mark)
            for key, value in self.mapping(source, path).items():
                out.setdefault(key, value)
        return out
