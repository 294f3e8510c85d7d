"""Validation against the schema, with every pydantic error turned into a readable Problem.

Each problem names the file and line the key came from, the key path as the user wrote it
(union tags stripped), what was expected and what was found, and for an unknown key the
closest valid key at that level.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from trainspec.errors import Problem, SpecError, closest
from trainspec.spec._crosscheck import job_problems
from trainspec.spec._defines import define_problems
from trainspec.spec._paths import KeyPath, Origin, lookup_origin
from trainspec.spec._schema import JobSpec
from trainspec.spec._schema_model import ArchSpec, GraphArch, SequentialArch
from trainspec.spec._schema_walk import Located, literal_choices, locate, type_at, valid_keys

__all__ = ["JOB_KEYS", "arch_adapter", "is_job_spec", "validate_spec"]

# A mapping with any of these keys is a job spec; otherwise an architecture spec.
JOB_KEYS = ("data", "train", "model")

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "none_required": "null",
}

_LIMITS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
    "multiple_of": ("multiple_of", "a multiple of"),
}


def is_job_spec(data: Mapping[str, Any]) -> bool:
    return any(key in data for key in JOB_KEYS)


@functools.cache
def arch_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(ArchSpec)


def validate_spec(
    data: Mapping[str, Any], origins: Mapping[KeyPath, Origin]
) -> tuple[JobSpec | None, BaseModel]:
    """Validate a job spec or an architecture spec; all problems are raised at once."""
    root: Any = JobSpec if is_job_spec(data) else ArchSpec
    try:
        if root is JobSpec:
            validated = JobSpec.model_validate(data)
            job, arch = validated, validated.model
        else:
            job, arch = None, arch_adapter().validate_python(data)
    except ValidationError as exc:
        raise SpecError(problems_from(exc.errors(), root, data, origins)) from None
    if isinstance(arch, (SequentialArch, GraphArch)):
        _check_defines(arch, ("model",) if job is not None else (), origins)
    if job is not None:
        problems = job_problems(job, origins)
        if problems:
            raise SpecError(problems)
    return job, arch


def _check_defines(
    arch: SequentialArch | GraphArch, prefix: KeyPath, origins: Mapping[KeyPath, Origin]
) -> None:
    """The sub-graphs' references and arguments, which the schema alone cannot check."""
    problems = []
    for found_problem in define_problems(arch):
        path = (*prefix, *found_problem.path)
        origin = lookup_origin(origins, path)
        problems.append(
            Problem(
                found_problem.message,
                path,
                origin.source if origin else None,
                origin.line if origin else None,
                origin.column if origin else None,
                found_problem.hint,
            )
        )
    if problems:
        raise SpecError(problems)


def found(value: Any) -> str:
    """A value as shown after "found": ``'ten' (str)``, ``a mapping``, ``null``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"


def _quoted_choices(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _message(err: ErrorDetails, where: Located, root: Any) -> tuple[str, str | None, KeyPath]:
    """(message, hint, path) for one pydantic error."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    path = where.path
    if kind == "missing":
        return f"missing required key '{path[-1]}'", None, path
    if kind == "extra_forbidden":
        keys = valid_keys(type_at(root, err["loc"][:-1]))
        near = closest(str(path[-1]), keys)
        hint = f"did you mean '{near}'?" if near else None
        if hint is None and keys:
            hint = "valid keys here: " + ", ".join(sorted(keys))
        return f"unknown key '{path[-1]}'", hint, path
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, found {found(value)}", None, path
    if kind == "literal_error":
        choices = _quoted_choices(str(ctx.get("expected", "")))
        near = closest(str(value), choices) if isinstance(value, str) else None
        hint = f"did you mean '{near}'?" if near else None
        return f"expected one of {ctx.get('expected')}, found {found(value)}", hint, path
    if kind == "union_tag_invalid":
        key = str(ctx.get("discriminator", "")).strip("'")
        choices = _quoted_choices(str(ctx.get("expected_tags", "")))
        near = closest(str(ctx.get("tag")), choices)
        message = f"unknown {key} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        return message, f"did you mean '{near}'?" if near else None, (*path, key)
    if kind == "union_tag_not_found":
        key = str(ctx.get("discriminator", "")).strip("'")
        choices = literal_choices(type_at(root, err["loc"]), key)
        hint = "one of " + ", ".join(repr(c) for c in choices) if choices else None
        return f"missing required key '{key}'", hint, (*path, key)
    if kind in _LIMITS:
        name, words = _LIMITS[kind]
        limit = ctx.get(name)
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {words} {limit}, found {found(value)}", None, path
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        what = "entries" if isinstance(value, dict) else "items"
        return f"needs {bound} {limit} {what}, found {ctx.get('actual_length')}", None, path
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern')!r}, found {found(value)}", None, path
    message = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message, None, path


def _shallow(err: ErrorDetails, where: Located, site: KeyPath) -> bool:
    """Whether the error says the value at a union is not of this member's type at all."""
    return where.path == site and (err["type"] in _EXPECTED or err["type"] == "literal_error")


@dataclass(frozen=True)
class _Merged:
    """The type errors of every member of a union that matched none: "expected X or Y"."""

    wanted: str
    path: KeyPath
    value: Any


def _drop_union_noise(
    errors: list[tuple[ErrorDetails, Located]],
) -> list[tuple[ErrorDetails, Located] | _Merged]:
    """At a union that failed, keep the errors of the members whose type matched; when none
    matched, merge the members' type errors into one "expected X or Y" entry."""
    matched: set[tuple[KeyPath, str]] = set()
    for err, where in errors:
        matched.update(u for u in where.unions if not _shallow(err, where, u[0]))
    matched_sites = {site for site, _ in matched}
    out: list[tuple[ErrorDetails, Located] | _Merged] = []
    merged: dict[KeyPath, list[ErrorDetails]] = {}
    for err, where in errors:
        noise = [u for u in where.unions if u not in matched and _shallow(err, where, u[0])]
        if not noise:
            out.append((err, where))
        elif noise[-1][0] not in matched_sites:
            site = noise[-1][0]
            if site not in merged:
                merged[site] = []
                out.append(_Merged("", site, err.get("input")))
            merged[site].append(err)
    return [_merge_wanted(e, merged) if isinstance(e, _Merged) else e for e in out]


def _merge_wanted(entry: _Merged, merged: dict[KeyPath, list[ErrorDetails]]) -> _Merged:
    wanted: list[str] = []
    for err in merged[entry.path]:
        text = (
            f"one of {(err.get('ctx') or {}).get('expected')}"
            if err["type"] == "literal_error"
            else _EXPECTED[err["type"]]
        )
        if text not in wanted:
            wanted.append(text)
    return _Merged(" or ".join(wanted), entry.path, entry.value)


def problems_from(
    errors: list[ErrorDetails],
    root: Any,
    data: Mapping[str, Any],
    origins: Mapping[KeyPath, Origin],
) -> list[Problem]:
    """pydantic errors -> Problems, in the order pydantic found them, without duplicates."""
    located = [(err, locate(root, err["loc"], data)) for err in errors]
    problems: list[Problem] = []
    for entry in _drop_union_noise(located):
        if isinstance(entry, _Merged):
            path = entry.path
            message, hint = f"expected {entry.wanted}, found {found(entry.value)}", None
        else:
            err, where = entry
            message, hint, path = _message(err, where, root)
            if where.in_key:
                message = f"bad key {err.get('input')!r}: {message}"
        origin = lookup_origin(origins, path)
        problem = Problem(
            message,
            tuple(path),
            origin.source if origin else None,
            origin.line if origin else None,
            origin.column if origin else None,
            hint,
        )
        if problem not in problems:
            problems.append(problem)
    return problems
