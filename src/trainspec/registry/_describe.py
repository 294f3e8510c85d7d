"""The describe half of the registry: built-in component names and their parameters, read
from a table shipped with the package, without importing torch or building anything.

``builtins.json`` is generated from the real components by ``trainspec.engine.write_table``
(``python -m trainspec.engine.table``); a test fails when it no longer matches them. Static
validation (``trainspec validate``) checks names and parameters against it, so validate and
train agree on what a spec may name. Components added by plugins are not in the table: when
plugins are installed, their names are looked up in the live registry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from importlib.resources import files
from typing import Any

from trainspec.errors import Problem, closest
from trainspec.registry._registry import PLUGIN_GROUP, registry
from trainspec.registry._signature import ENGINE_PARAMS, ParamSignature, signature_of
from trainspec.registry._types import describe_encoded, encode_type, value_fits

__all__ = [
    "TABLE_FILE",
    "Described",
    "builtin_table",
    "check_component_params",
    "describe",
    "described_by",
    "names",
]

TABLE_FILE = "builtins.json"
_ENGINE_RESERVED = {p: "set by the engine, not in the spec; remove it" for p in ENGINE_PARAMS}


@dataclass(frozen=True)
class Described:
    """A component as validation sees it: its parameters, without the component itself.

    ``filled`` are parameters the engine passes (an optimiser's ``params``) or sets when the
    spec leaves them out (``T_max`` of ``cosine``); ``inferred`` are sizes a block takes from
    its input shape; ``reserved`` maps parameters a spec may not set to the reason; ``info``
    holds what a kind adds (a transform's stage, a metric's task and direction); ``types``
    maps parameters to their type in the table's encoding (``registry._types``).
    """

    kind: str
    name: str
    params: tuple[str, ...]
    required: frozenset[str]
    any_keyword: bool
    filled: frozenset[str] = frozenset()
    inferred: frozenset[str] = frozenset()
    reserved: Mapping[str, str] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    types: Mapping[str, Any] = field(default_factory=dict)


@functools.cache
def builtin_table() -> dict[str, Any]:
    """The table as stored: ``{"generated_with": {...}, "kinds": {kind: {name: entry}}}``."""
    text = files("trainspec.registry").joinpath(TABLE_FILE).read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


@functools.cache
def _plugins_installed() -> bool:
    return bool(list(entry_points(group=PLUGIN_GROUP)))


def names(kind: str) -> list[str]:
    """Every name of ``kind``: the built-ins, and those of installed plugins."""
    known = set(builtin_table()["kinds"].get(kind, {}))
    if _plugins_installed():
        known.update(registry.names(kind))
    return sorted(known)


def _entry(kind: str, name: str, entry: Mapping[str, Any]) -> Described:
    return Described(
        kind,
        name,
        tuple(entry.get("params", ())),
        frozenset(entry.get("required", ())),
        bool(entry.get("any_keyword", False)),
        frozenset(entry.get("filled", ())),
        frozenset(entry.get("inferred", ())),
        dict(entry.get("reserved", {})),
        dict(entry.get("info", {})),
        dict(entry.get("types", {})),
    )


def describe(kind: str, name: str, *, ignore_case: bool = False) -> Described | None:
    """The component ``name`` of ``kind``; None when there is none.

    ``ignore_case`` matches names as the builders of that kind do (optimisers and losses are
    found whatever their case). A plugin's component is described from its signature.
    """
    table: Mapping[str, Any] = builtin_table()["kinds"].get(kind, {})
    found = name if name in table else None
    if found is None and ignore_case:
        found = next((n for n in table if n.lower() == name.lower()), None)
    if found is not None:
        return _entry(kind, found, table[found])
    if _plugins_installed() and name in registry.names(kind):
        return described_by(kind, name, registry.get(kind, name))
    return None


def described_by(
    kind: str,
    name: str,
    factory: Callable[..., Any] | ParamSignature,
    *,
    filled: Iterable[str] = (),
    inferred: Iterable[str] = (),
    reserved: Mapping[str, str] | None = None,
) -> Described:
    """``factory`` (or a signature read already) described as the table describes built-ins,
    its annotations encoded the same way; ``device`` and ``dtype`` are reserved (the engine
    places the model)."""
    sig = factory if isinstance(factory, ParamSignature) else signature_of(factory)
    filled, inferred = frozenset(filled), frozenset(inferred)
    encoded = {n: encode_type(sig.hints[n]) for n in sig.names if n in sig.hints}
    types = {n: t for n, t in encoded.items() if t is not None and n not in filled | inferred}
    reserved = {**_ENGINE_RESERVED, **(reserved or {})}
    return Described(
        kind, name, sig.names, sig.required, sig.any_keyword, filled, inferred, reserved, {}, types
    )


def check_component_params(
    described: Described,
    given: Mapping[str, Any],
    path: tuple[str | int, ...],
    *,
    typed: bool = True,
    value_hint: Callable[[Any], str] | None = None,
) -> list[Problem]:
    """Unknown, reserved and missing parameters of ``given``, and (with ``typed``) values of
    the wrong type, each under its key path. ``value_hint`` adds a kind's own advice to a
    value of the wrong type (a block's expressions over ``i`` and ``n``)."""
    what = f"{described.kind} {described.name}"
    own = [p for p in described.params if p not in described.filled]
    problems: list[Problem] = []
    for key in given:
        if key in described.reserved:
            problems.append(
                Problem(
                    f"{what}: parameter {key!r} cannot be set",
                    (*path, key),
                    hint=described.reserved[key],
                )
            )
        elif key not in described.params and not described.any_keyword:
            near = closest(key, own)
            hint = f"did you mean {near!r}? " if near else ""
            problems.append(
                Problem(
                    f"{what} takes no parameter {key!r}",
                    (*path, key),
                    hint=f"{hint}It takes: {', '.join(own) or 'no parameters'}",
                )
            )
        elif typed and key in described.types and not value_fits(given[key], described.types[key]):
            problem = _type_problem(what, key, given[key], described.types[key], path)
            advice = value_hint(given[key]) if value_hint is not None else ""
            problems.append(replace(problem, hint=advice) if advice else problem)
    missing = described.required - set(given) - described.filled - described.inferred
    for name in sorted(missing):
        problems.append(
            Problem(f"{what} needs parameter {name!r}", (*path, name), hint=f"set {name}")
        )
    return problems


def _type_problem(
    what: str, key: str, value: Any, expected: Any, path: tuple[str | int, ...]
) -> Problem:
    quoted = isinstance(value, str) and _is_number(value)
    hint = "write the number without quotes" if quoted else None
    return Problem(
        f"{what}: parameter {key!r} must be {describe_encoded(expected)}; got {value!r} "
        f"({type(value).__name__})",
        (*path, key),
        hint=hint,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
