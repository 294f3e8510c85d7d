"""One way from a spec entry to a component: ``instantiate(kind, spec, key_path)``.

Every builder (blocks, users' modules and datasets, optimisers, schedulers, losses, metrics,
transforms, sources, splits, callbacks) resolves names, checks import paths and binds
parameters here, with one error style: a ``SpecError`` naming the key path, the value seen
and the fix (the file and line come from ``LoadedSpec.location``). Its describe half,
``describe_entry``, imports nothing (built-ins are in the describe table) and makes the same
checks, so ``trainspec validate`` and ``train`` accept exactly the same names.

A spec entry is a name (``"accuracy"``) or a mapping with the name under the kind's key
(``type`` for blocks, transforms and sources; ``target`` for users' models and datasets;
``name`` otherwise) beside the parameters; an :class:`Entry` keeps them apart.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trainspec.errors import Problem, RegistryError, SpecError, closest, raised_at
from trainspec.registry._describe import (
    Described,
    check_component_params,
    describe,
    described_by,
    names,
)
from trainspec.registry._imports import check_import_path, resolve_import
from trainspec.registry._registry import registry

__all__ = [
    "Entry",
    "describe_entry",
    "entry_of",
    "import_object",
    "import_problem",
    "instantiate",
    "lookup",
    "name_problems",
    "resolve",
    "unknown_name",
]

KeyPath = tuple[str | int, ...]

# Kinds whose names are found whatever their case (AdamW, adamw).
_ANY_CASE = frozenset({"optimizer", "loss"})
_NAME_KEYS: Mapping[str, str] = {
    "block": "type",
    "transform": "type",
    "source": "type",
    "model": "target",
    "dataset": "target",
    "split": "method",
}


@dataclass(frozen=True)
class Entry:
    """A spec entry taken apart: the component's name, its parameters, and where each is."""

    kind: str
    name: str
    params: dict[str, Any]
    path: KeyPath  # the entry; a parameter's problem is under (*path, parameter)
    name_path: KeyPath  # the name itself


Spec = str | Mapping[str, Any] | Entry


def entry_of(kind: str, spec: Spec, key_path: KeyPath) -> Entry:
    """``spec`` as an :class:`Entry`; a mapping without a name is a ``SpecError``. An Entry is
    taken as it is (parameters kept apart from the name: ``target`` beside ``params``)."""
    if isinstance(spec, Entry):
        return spec
    if isinstance(spec, str):
        return Entry(kind, spec, {}, key_path, key_path)
    key = _NAME_KEYS.get(kind, "name")
    name = spec.get(key)
    if not isinstance(name, str) or not name:
        raise SpecError.single(
            f"a {kind} needs {key!r}: a registered name or an import path; found {name!r}",
            path=(*key_path, key),
        )
    params = {k: v for k, v in spec.items() if k != key}
    return Entry(kind, name, params, key_path, (*key_path, key))


def unknown_name(
    kind: str, name: str, known: Iterable[str], path: KeyPath, extra: str = ""
) -> Problem:
    """``unknown <kind> 'name'`` with the closest known name (or the known ones) as the fix."""
    pool = sorted(set(known))
    near = closest(name, pool)
    if near:
        hint = f"did you mean {near!r}?"
    elif pool:
        hint = f"known: {', '.join(pool[:40])}" + (", ..." if len(pool) > 40 else "")
    else:
        hint = f"name your own {kind} by import path, such as 'my_pkg.module.Name'"
    return Problem(f"unknown {kind} {name!r}{extra}", path, hint=hint)


def import_problem(value: str, path: KeyPath, allow: Iterable[str] = ()) -> Problem | None:
    """What is wrong with an import path before importing it: the allow-list, the deny-list,
    and whether its top-level module exists (found, not run). None when nothing is."""
    try:
        check_import_path(value, allow)
    except RegistryError as exc:
        return Problem(str(exc), path)
    top = value.split(".")[0]
    if importlib.util.find_spec(top) is None:
        return Problem(
            f"import path {value!r}: module {top!r} cannot be found",
            path,
            hint="install it, or run from the folder that holds it (the working directory "
            "and the spec's folder are searched)",
        )
    return None


def name_problems(
    kind: str,
    name: str,
    path: KeyPath,
    *,
    allow: Iterable[str] = (),
    extra: Collection[str] = (),
) -> tuple[Described | None, list[Problem]]:
    """The described component ``name`` of ``kind``, or the problem with the name.

    An import path is checked but not described (that would import it): None, and its
    problems. ``extra`` are other names the caller accepts (a spec's own sub-graphs).
    """
    found = describe(kind, name, ignore_case=kind in _ANY_CASE)
    if found is not None or name in extra:
        return found, []
    if "." in name:
        problem = import_problem(name, path, allow)
        return None, [problem] if problem else []
    return None, [unknown_name(kind, name, [*names(kind), *extra], path)]


def describe_entry(
    kind: str,
    spec: Spec,
    key_path: KeyPath,
    *,
    allow: Iterable[str] = (),
) -> tuple[Described | None, list[Problem]]:
    """Every problem ``instantiate`` would raise for this entry that can be found without
    importing anything, and the described component (None for an import path)."""
    try:
        entry = entry_of(kind, spec, key_path)
    except SpecError as exc:
        return None, exc.problems
    described, problems = name_problems(kind, entry.name, entry.name_path, allow=allow)
    if described is not None:
        problems += check_component_params(described, entry.params, entry.path)
    return described, problems


def lookup(kind: str, name: str, path: KeyPath, allow: Iterable[str] = ()) -> tuple[str, Any]:
    """``(name as registered, object)``: a registered name (optimisers and losses by any
    case), else an import path under the allow-list; a ``SpecError`` at ``path`` otherwise,
    worded as :func:`name_problems` words it."""
    known = registry.names(kind)
    found = name if name in known else None
    if found is None and kind in _ANY_CASE:
        found = next((n for n in known if n.lower() == name.lower()), None)
    if found is not None:
        return found, registry.get(kind, found)
    if "." not in name:
        raise SpecError([unknown_name(kind, name, known, path)])
    return name, import_object(name, path, allow)


def import_object(value: str, path: KeyPath, allow: Iterable[str] = ()) -> Any:
    """The object at an allow-listed import path; a refused or missing one is a ``SpecError``
    at ``path``, worded as :func:`import_problem` words it."""
    try:
        return resolve_import(value, allow)
    except RegistryError as exc:
        raise SpecError.single(str(exc), path=path) from None


def resolve(kind: str, name: str, path: KeyPath, *, allow: Iterable[str] = ()) -> Any:
    """The component ``name`` of ``kind`` (see :func:`lookup`)."""
    return lookup(kind, name, path, allow)[1]


def instantiate(
    kind: str,
    spec: Spec,
    key_path: KeyPath,
    *,
    allow: Iterable[str] = (),
    fixed: Mapping[str, Any] | None = None,
    reserved: Mapping[str, str] | None = None,
    target: Any = None,
) -> Any:
    """Resolve the component ``spec`` names (unless ``target`` is it already), check its
    parameters (every problem at once), and call it.

    ``fixed`` are arguments trainspec passes itself (an optimiser's ``params``); ``reserved``
    maps parameters a spec may not set to the reason. A ``TypeError`` or ``ValueError`` the
    component raises over its parameters names the entry and the line of user code.
    """
    entry = entry_of(kind, spec, key_path)
    name = entry.name
    if target is None:
        name, target = lookup(kind, entry.name, entry.name_path, allow)
    if not callable(target):
        raise SpecError.single(
            f"{kind} {name!r} is a {type(target).__name__}, not a class or a function",
            path=entry.name_path,
        )
    fixed = dict(fixed or {})
    described = described_by(kind, name, target, filled=fixed, reserved=reserved)
    problems = check_component_params(described, entry.params, entry.path)
    if problems:
        raise SpecError(problems)
    try:
        return target(**fixed, **entry.params)
    except (TypeError, ValueError) as exc:
        raise SpecError.single(
            f"{kind} {name} rejected its parameters: {exc}{raised_at(exc)}",
            path=entry.path,
            hint="check the values against its documentation",
        ) from exc
