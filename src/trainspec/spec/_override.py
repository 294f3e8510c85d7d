"""Command-line overrides: ``train.epochs=3``, ``'model.blocks.head.out=[10]'``, ``~a.b``.

``key.path=value`` sets a value; the value is read as YAML (``3``, ``1e-4``, ``[10]``,
``{a: 1}``, ``null``; ``'"3"'`` stays a string; an empty value is null). Missing mappings on the
way are created, so a misspelled key is reported by validation like any unknown key, naming
the override. ``~key.path`` removes a key. List items are addressed as ``layers[0]`` or
``layers.0``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainspec.errors import SpecError, closest, format_path
from trainspec.spec._paths import KeyPath, Origin, Origins, drop_subtree, parse_path, stamp
from trainspec.spec._yaml import parse_yaml

__all__ = ["Override", "apply_overrides", "parse_overrides"]


@dataclass(frozen=True)
class Override:
    """One override: set ``path`` to ``value``, or remove it. ``text`` is what was written."""

    path: KeyPath
    value: Any = None
    remove: bool = False
    text: str = ""

    @property
    def label(self) -> str:
        return f"override '{self.text}'"


def _bad(text: str, why: str) -> SpecError:
    return SpecError.single(
        why,
        file=f"override '{text}'",
        hint="write key.path=value to set a value, or ~key.path to remove a key",
    )


def parse_override(text: str) -> Override:
    """Parse one ``key.path=value`` or ``~key.path``."""
    remove = text.startswith("~")
    key, has_value, raw = text[1:].partition("=") if remove else text.partition("=")
    if remove and has_value:
        raise _bad(text, "a removal (~key) takes no value")
    if not remove and not has_value:
        raise _bad(text, "no '=' (expected key.path=value)")
    try:
        path = parse_path(key.strip())
    except ValueError as exc:
        raise _bad(text, str(exc)) from None
    if isinstance(path[0], int):
        raise _bad(text, "a key path starts with a key, not a list index")
    if remove:
        return Override(path, remove=True, text=text)
    return Override(path, _parse_value(raw, f"override '{text}'"), text=text)


def _parse_value(raw: str, label: str) -> Any:
    if not raw.strip():
        return None
    value, _ = parse_yaml(raw, label, os.getcwd())
    return value


def parse_overrides(items: Sequence[str]) -> list[Override]:
    """Parse command-line overrides, reporting every malformed one at once."""
    parsed: list[Override] = []
    problems = []
    for item in items:
        try:
            parsed.append(parse_override(item))
        except SpecError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return parsed


def apply_overrides(
    data: Mapping[str, Any],
    overrides: Sequence[Override | str],
    *,
    origins: Origins | None = None,
) -> dict[str, Any]:
    """A copy of ``data`` with the overrides applied in order.

    ``origins``, when given, is updated in place: every key an override sets gets the
    override's label as its origin.
    """
    out = copy.deepcopy(dict(data))
    track: Origins = {} if origins is None else origins
    for item in overrides:
        override = parse_override(item) if isinstance(item, str) else item
        if override.remove:
            _remove(out, override, track)
        else:
            _set(out, override, track)
    return out


def _container_at(root: dict[str, Any], override: Override, origins: Origins) -> Any:
    """The mapping or list that holds the override's last key, creating mappings on the way."""
    current: Any = root
    for depth, part in enumerate(override.path[:-1]):
        here = override.path[: depth + 1]
        if isinstance(current, dict):
            key = str(part)
            if override.remove and key not in current:
                raise _no_such_key(override, current, key, here)
            if not override.remove and current.get(key) is None:
                current[key] = {}
                origins[here] = Origin(override.label)
            current = current[key]
        elif isinstance(current, list):
            current = current[_index(current, part, override, here)]
        else:
            raise _not_a_container(override, override.path[:depth], current)
    if not isinstance(current, dict | list):
        raise _not_a_container(override, override.path[:-1], current)
    return current


def _set(root: dict[str, Any], override: Override, origins: Origins) -> None:
    parent = _container_at(root, override, origins)
    last = override.path[-1]
    if isinstance(parent, list):
        index = _index(parent, last, override, override.path)
        drop_subtree(origins, override.path, parent[index])
        parent[index] = copy.deepcopy(override.value)
    else:
        key = str(last)
        if key in parent:
            drop_subtree(origins, override.path, parent[key])
        parent[key] = copy.deepcopy(override.value)
    stamp(origins, override.path, override.value, Origin(override.label))


def _remove(root: dict[str, Any], override: Override, origins: Origins) -> None:
    parent = _container_at(root, override, origins)
    last = override.path[-1]
    if isinstance(parent, list):
        index = _index(parent, last, override, override.path)
        old = parent.pop(index)
    else:
        key = str(last)
        if key not in parent:
            raise _no_such_key(override, parent, key, override.path)
        old = parent.pop(key)
    drop_subtree(origins, override.path, old)


def _index(items: list[Any], part: str | int, override: Override, path: KeyPath) -> int:
    if not isinstance(part, int):
        raise _bad(
            override.text,
            f"'{format_path(path[:-1])}' is a list; address its items as [0]..[{len(items) - 1}]",
        )
    if part >= len(items):
        raise _bad(
            override.text,
            f"'{format_path(path)}' is past the end of a list of {len(items)} item(s)",
        )
    return part


def _not_a_container(override: Override, path: KeyPath, value: Any) -> SpecError:
    return _bad(
        override.text,
        f"'{format_path(path)}' holds {value!r} ({type(value).__name__}), which has no keys; "
        f"set '{format_path(path)}' itself instead",
    )


def _no_such_key(override: Override, parent: dict[str, Any], key: str, path: KeyPath) -> SpecError:
    near = closest(key, parent)
    why = f"there is no key '{format_path(path)}' to remove"
    if near:
        why += f" (did you mean '{near}'?)"
    return _bad(override.text, why)
