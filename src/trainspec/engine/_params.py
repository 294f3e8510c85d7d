"""Spec parameters checked against the signature of the class they are passed to."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

from trainspec.errors import Problem, SpecError, closest

__all__ = ["accepted_params", "build_checked"]


def accepted_params(target: Callable[..., Any]) -> tuple[list[str], list[str], bool]:
    """``(accepted, required, takes **kwargs)`` of a class's constructor or a function."""
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # builtins without a signature: accept anything
        return [], [], True
    accepted, required, var_kw = [], [], False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is not p.VAR_POSITIONAL:
            accepted.append(p.name)
            if p.default is p.empty:
                required.append(p.name)
    return accepted, required, var_kw


def build_checked(
    target: Callable[..., Any],
    args: Mapping[str, Any],
    *,
    path: tuple[str | int, ...],
    what: str,
    supplied: Collection[str] = (),
    reserved: Mapping[str, str] | None = None,
    **fixed: Any,
) -> Any:
    """``target(**fixed, **args)`` after checking ``args`` against its signature.

    ``supplied`` are parameters the engine fills in (``params``, ``optimizer``); ``reserved``
    maps parameters a user may not set to the reason. Every unknown, reserved or missing
    parameter is reported at once, each under its key path.
    """
    accepted, required, var_kw = accepted_params(target)
    own = [a for a in accepted if a not in supplied and a not in (reserved or {})]
    problems = []
    for key in args:
        if reserved and key in reserved:
            problems.append(
                Problem(f"{what} parameter {key!r} cannot be set", (*path, key), hint=reserved[key])
            )
        elif key not in accepted and not var_kw:
            near = closest(key, own)
            hint = f"did you mean {near!r}? " if near else ""
            problems.append(
                Problem(
                    f"{what} takes no parameter {key!r}",
                    (*path, key),
                    hint=f"{hint}It takes: {', '.join(own) or 'none'}",
                )
            )
    for name in required:
        if name not in args and name not in fixed and name not in supplied:
            problems.append(
                Problem(
                    f"{what} needs parameter {name!r}",
                    (*path, name),
                    hint=f"set {name} in the spec",
                )
            )
    if problems:
        raise SpecError(problems)
    try:
        return target(**fixed, **args)
    except (TypeError, ValueError) as exc:
        raise SpecError.single(
            f"{what} rejected its parameters: {exc}",
            path=path,
            hint="check the values against its documentation",
        ) from exc
