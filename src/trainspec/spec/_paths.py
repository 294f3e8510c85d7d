"""Key paths (``train.optimizer.lr``, ``model.layers[0].type``) and where each key came from.

A key path is a tuple of mapping keys (str) and list indices (int). Text form: keys joined by
dots, indices either as ``[0]`` or as a bare number segment (``layers.0.type``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainspec.errors import format_path

__all__ = [
    "KeyPath",
    "Origin",
    "Origins",
    "all_paths",
    "copy_subtree",
    "display_path",
    "drop_subtree",
    "get_at",
    "graft",
    "lookup_origin",
    "parse_path",
    "stamp",
    "walk",
]

KeyPath = tuple[str | int, ...]

# One segment: a key, optionally followed by [index]es; or a bare index. Keys may hold
# letters, digits, '_', '-' and '/' (metric names such as val/loss).
_KEY = r"[A-Za-z0-9_\-/]+"
_SEGMENT = re.compile(rf"^({_KEY})((?:\[[0-9]+\])*)$")
_INDEX = re.compile(r"\[([0-9]+)\]")


def parse_path(text: str) -> KeyPath:
    """``"a.b[0].c"`` or ``"a.b.0.c"`` -> ``("a", "b", 0, "c")``. Raises ValueError when malformed.

    A segment of digits only is a list index; applied to a mapping it names the key of
    those digits.
    """
    if not text:
        raise ValueError("the key path is empty")
    path: list[str | int] = []
    for segment in text.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            what = f"bad segment {segment!r}" if segment else "an empty segment"
            raise ValueError(
                f"'{text}' is not a key path: {what} (use keys of letters, digits, '_', '-' "
                "or '/', joined by dots, and [N] for list items)"
            )
        key, indices = match.groups()
        path.append(int(key) if key.isdigit() else key)
        path.extend(int(i) for i in _INDEX.findall(indices))
    return tuple(path)


@dataclass(frozen=True)
class Origin:
    """Where a key came from: a file (with line and column when known), or a label such as
    ``override 'train.epochs=3'``."""

    source: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.source
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


Origins = dict[KeyPath, Origin]


def display_path(path: Path) -> str:
    """A file as shown in messages: relative to the working directory when inside it."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def lookup_origin(origins: Mapping[KeyPath, Origin], path: KeyPath) -> Origin | None:
    """The origin of ``path``, or of its deepest ancestor with one."""
    for end in range(len(path), -1, -1):
        found = origins.get(path[:end])
        if found is not None:
            return found
    return None


def drop_subtree(origins: Origins, prefix: KeyPath, value: Any = None) -> None:
    """Forget ``prefix`` and the paths inside ``value``, the value held there."""
    origins.pop(prefix, None)
    for path, _ in walk(value, prefix):
        origins.pop(path, None)


def copy_subtree(src: Mapping[KeyPath, Origin], dst: Origins, prefix: KeyPath, value: Any) -> None:
    """Copy the origins of ``prefix`` and of the paths inside ``value`` from src to dst."""
    for path in [prefix, *(p for p, _ in walk(value, prefix))]:
        found = src.get(path)
        if found is not None:
            dst[path] = found


def graft(origins: Origins, prefix: KeyPath, sub: Mapping[KeyPath, Origin]) -> None:
    """Copy ``sub`` (paths relative to ``prefix``) under ``prefix``."""
    for path, origin in sub.items():
        origins[prefix + path] = origin


def stamp(origins: Origins, prefix: KeyPath, value: Any, origin: Origin) -> None:
    """Give ``prefix`` and every key or item inside ``value`` the same origin."""
    origins[prefix] = origin
    for path, _ in walk(value, prefix):
        origins[path] = origin


def walk(value: Any, prefix: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    """Every key path below ``value`` (prefixed by ``prefix``) with its value, depth first."""
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        path = (*prefix, key)
        yield path, item
        yield from walk(item, path)


def all_paths(data: Any) -> list[str]:
    """Every key path in ``data``, as text, for "did you mean" suggestions."""
    return [format_path(path) for path, _ in walk(data, ())]


_MISSING = object()


def get_at(data: Any, path: KeyPath) -> Any:
    """The value at ``path``, or raise KeyError naming the first segment that is missing."""
    current = data
    for depth, part in enumerate(path):
        nxt: Any = _MISSING
        if isinstance(current, dict):
            nxt = current.get(str(part), _MISSING)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            nxt = current[part]
        if nxt is _MISSING:
            raise KeyError(path[: depth + 1])
        current = nxt
    return current
