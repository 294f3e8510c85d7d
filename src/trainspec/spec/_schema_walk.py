"""Following a pydantic error location through the schema's types.

pydantic puts union member tags into error locations (``('model', 'sequential', 'layers', 0,
'str')``). Walking the location alongside the annotated types tells a tag (at a union) from a
key (at a model, dict or list), so the location can be given back as the user wrote it, and
the model at any point gives the valid keys there for "did you mean".
"""

from __future__ import annotations

import types
from collections.abc import Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag

from trainspec.spec._paths import KeyPath

__all__ = ["Located", "literal_choices", "locate", "type_at", "valid_keys"]

_LISTS = (list, tuple, set, frozenset, Sequence, MutableSequence)
_DICTS = (dict, Mapping)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` around a type."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif _is_union(tp) and len(_members(tp)) == 1:
            tp = _members(tp)[0][0]
        else:
            return tp


def _members(tp: Any) -> list[tuple[Any, str | None]]:
    """A union's members other than None, each with its ``Tag`` if it has one."""
    out: list[tuple[Any, str | None]] = []
    for member in get_args(tp):
        if member is type(None):
            continue
        tag = None
        if get_origin(member) is Annotated:
            tag = next((m.tag for m in get_args(member)[1:] if isinstance(m, Tag)), None)
        out.append((member, tag))
    return out


def _model(tp: Any) -> type[BaseModel] | None:
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _pick(tp: Any, tag: str) -> Any:
    """The union member an error tag names: a ``Tag``, a discriminator value, a class name, or
    pydantic's name for a container type (``list[...]``, ``dict[...]``). None if unknown."""
    members = _members(tp)
    for member, member_tag in members:
        if member_tag == tag:
            return member
    for member, _ in members:
        model = _model(member)
        if model is not None and (model.__name__ == tag or tag in _literal_values(model)):
            return member
    for member, _ in members:
        origin = get_origin(_unwrap(member))
        if (tag.startswith("list[") and origin in _LISTS) or (
            tag.startswith("dict[") and origin in _DICTS
        ):
            return member
    return None


def _literal_values(model: type[BaseModel]) -> set[Any]:
    values: set[Any] = set()
    for info in model.model_fields.values():
        if get_origin(info.annotation) is Literal:
            values.update(get_args(info.annotation))
    return values


def _child(tp: Any, key: str | int) -> Any:
    """The type found under ``key`` in a value of type ``tp`` (None when unknown or Any)."""
    model = _model(tp)
    if model is not None:
        for name, info in model.model_fields.items():
            if key in (name, info.alias):
                return info.annotation
        return None
    tp = _unwrap(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin in _LISTS and isinstance(key, int) and args:
        return args[0]
    if origin in _DICTS and len(args) == 2:
        return args[1]
    return None


def _child_value(value: Any, key: str | int) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return None


@dataclass
class Located:
    """An error location as the user wrote it."""

    path: KeyPath = ()
    # (path, member tag) for each union the location passed through.
    unions: list[tuple[KeyPath, str]] = field(default_factory=list)
    in_key: bool = False  # the error is about a mapping key, not its value


def locate(root: Any, loc: Sequence[str | int], data: Any) -> Located:
    """Strip union tags from ``loc``, walking the types from ``root`` alongside the data."""
    out = Located()
    tp: Any = root
    value = data
    for i, part in enumerate(loc):
        if part == "[key]":
            out.in_key = True
            continue
        inner = _unwrap(tp) if tp is not None else None
        if inner is not None and _is_union(inner):
            out.unions.append((out.path, str(part)))
            tp = _pick(inner, str(part))
            continue
        if inner is None and _looks_like_tag(part, value, last=i == len(loc) - 1):
            continue
        out.path = (*out.path, part)
        tp = _child(inner, part) if inner is not None else None
        value = _child_value(value, part)
    return out


def _looks_like_tag(part: str | int, value: Any, *, last: bool) -> bool:
    """Without type information: a string that is not a key of the data here is a tag."""
    if not isinstance(part, str) or last:
        return False
    return not (isinstance(value, dict) and part in value)


def type_at(root: Any, loc: Sequence[str | int]) -> Any:
    """The type at a raw pydantic location (tags included), or None when unknown."""
    tp: Any = root
    for part in loc:
        if tp is None:
            return None
        inner = _unwrap(tp)
        if part == "[key]":
            continue
        tp = _pick(inner, str(part)) if _is_union(inner) else _child(inner, part)
    return tp


def valid_keys(tp: Any) -> list[str]:
    """The keys a mapping of type ``tp`` may hold (all members' keys for a union)."""
    if tp is None:
        return []
    model = _model(tp)
    if model is not None:
        keys: list[str] = []
        for name, info in model.model_fields.items():
            keys.append(name)
            if isinstance(info.alias, str) and info.alias != name:
                keys.append(info.alias)
        return keys
    inner = _unwrap(tp)
    if _is_union(inner):
        return sorted({k for member, _ in _members(inner) for k in valid_keys(member)})
    return []


def literal_choices(tp: Any, key: str) -> list[Any]:
    """The values a union's members allow for ``key`` (a discriminator such as ``type``)."""
    inner = _unwrap(tp) if tp is not None else None
    if inner is None or not _is_union(inner):
        return []
    choices: list[Any] = []
    for member, _ in _members(inner):
        model = _model(member)
        info = model.model_fields.get(key) if model is not None else None
        if info is not None and get_origin(info.annotation) is Literal:
            choices.extend(get_args(info.annotation))
    return choices
