"""What a component's constructor accepts, read from its signature.

One reading of signatures for every kind: the builders check parameters with it before
building, and the describe table (``_describe``) is generated from it.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ENGINE_PARAMS", "ParamSignature", "positional_arity", "signature_of"]

# Set by whoever places the model on a device; never by a spec.
ENGINE_PARAMS = frozenset({"device", "dtype"})


@dataclass(frozen=True)
class ParamSignature:
    """What a constructor accepts: names, which are required, their annotations."""

    names: tuple[str, ...]
    required: frozenset[str]
    hints: Mapping[str, Any]
    any_keyword: bool  # takes **kwargs, so unknown names cannot be caught here

    def accepts(self, name: str) -> bool:
        return name in self.names or self.any_keyword


def signature_of(factory: Callable[..., Any]) -> ParamSignature:
    """The keyword parameters of a class's ``__init__`` or of a function (read once per
    class or function: ``typing.get_type_hints`` takes a fraction of a millisecond, and a
    sweep's trials build the same components again and again)."""
    try:
        return _cached_signature(factory)
    except TypeError:  # an unhashable callable
        return _read_signature(factory)


@functools.lru_cache(maxsize=512)
def _cached_signature(factory: Callable[..., Any]) -> ParamSignature:
    return _read_signature(factory)


def _read_signature(factory: Callable[..., Any]) -> ParamSignature:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return ParamSignature((), frozenset(), {}, any_keyword=True)
    target = factory.__init__ if isinstance(factory, type) else factory  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: check names only
        hints = {}
    names: list[str] = []
    required: set[str] = set()
    any_keyword = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            any_keyword = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ENGINE_PARAMS:
            names.append(p.name)
            if p.default is p.empty:
                required.add(p.name)
    return ParamSignature(tuple(names), frozenset(required), hints, any_keyword)


def positional_arity(fn: Callable[..., Any]) -> int | None:
    """How many arguments ``fn`` takes by position; None when it takes any number (``*args``)
    or its signature cannot be read. Tells ``f(y_true, y_pred)`` from ``f(y_true, y_pred,
    y_score)``, and ``forward(batch)`` from ``forward(module, batch)``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
