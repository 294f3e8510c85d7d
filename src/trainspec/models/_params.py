"""A block's parameters checked against its constructor: unknown names (with the closest
one), missing required ones, and values of the wrong type, before anything is built."""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any

from trainspec.errors import closest
from trainspec.registry import ENGINE_PARAMS, ParamSignature, signature_of

__all__ = ["ENGINE_PARAMS", "ParamSignature", "check_params", "describe_type", "signature_of"]


def describe_type(tp: Any) -> str:
    """``Union[int, Tuple[int]]`` -> ``int | tuple[int]``, for messages."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(describe_type(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if tp is type(None):
        return "null"
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        inner = ", ".join("..." if a is Ellipsis else describe_type(a) for a in args)
        return f"{name}[{inner}]" if inner else name
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _matches_generic(value: Any, origin: Any, args: tuple[Any, ...]) -> bool:
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(v, args[0]) for v in value)
        return not args or (len(args) == len(value) and all(map(matches, value, args)))
    if origin in (list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable):
        if not isinstance(value, (list, tuple)):
            return False
        return not args or all(matches(v, args[0]) for v in value)
    if origin in (dict, cabc.Mapping, cabc.MutableMapping):
        return isinstance(value, dict)
    return True  # a generic we do not know: let the constructor judge


def matches(value: Any, tp: Any) -> bool:
    """Whether a value read from YAML/JSON fits an annotation (lists stand for tuples)."""
    if tp is Any or tp is inspect.Parameter.empty or isinstance(tp, (str, typing.TypeVar)):
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if origin is not None:
        return _matches_generic(value, origin, typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def check_params(
    sig: ParamSignature,
    given: Mapping[str, Any],
    *,
    inferred: Collection[str] = (),
) -> list[str]:
    """Problems with ``given`` against ``sig``; ``inferred`` are filled in from shapes later."""
    problems: list[str] = []
    for name, value in given.items():
        if name in ENGINE_PARAMS:
            problems.append(f"parameter {name!r} is set by the engine, not in the spec; remove it")
        elif not sig.accepts(name):
            near = closest(name, sig.names)
            hint = f"; did you mean {near!r}?" if near else ""
            known = ", ".join(sig.names) or "none"
            problems.append(f"unknown parameter {name!r}{hint} (parameters: {known})")
        elif name in sig.hints and not matches(value, sig.hints[name]):
            problems.append(
                f"parameter {name!r} must be {describe_type(sig.hints[name])}; "
                f"got {value!r} ({type(value).__name__}){_expression_hint(value)}"
            )
    for name in sorted(sig.required - set(given) - set(inferred)):
        expected = f" ({describe_type(sig.hints[name])})" if name in sig.hints else ""
        problems.append(f"missing required parameter {name!r}{expected}")
    return problems


def _expression_hint(value: Any) -> str:
    from trainspec.models._expr import is_expression

    if is_expression(value):
        return "; expressions over i and n work only in a block with repeat: N"
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return "; write the number without quotes"
    return ""
