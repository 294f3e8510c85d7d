"""Parameter types as the describe table stores them, and values from a spec checked against
them without importing torch.

A constructor's annotation is encoded once, when the table is generated, into a small JSON
form that only says what a value read from YAML or JSON can be:

    "int" | "float" | "bool" | "str" | "null" | "dict" | "tensor"
    {"literal": [values]} | {"union": [types]} | {"list": type} | {"tuple": [types]}

``"tensor"`` is a number or a (nested) list of numbers, which is how a spec writes a tensor.
An annotation with a part that no spec value can be checked against (a class, a callable, a
type variable) is not encoded at all: that parameter's values are left to the constructor, as
``trainspec.models`` does when it builds a block.
"""

from __future__ import annotations

import collections.abc as cabc
import types
import typing
from typing import Any

__all__ = ["describe_encoded", "encode_type", "value_fits"]

_SCALARS: dict[Any, str] = {int: "int", float: "float", bool: "bool", str: "str"}
_SEQUENCES = (list, cabc.Sequence, cabc.MutableSequence, cabc.Iterable)
_MAPPINGS = (dict, cabc.Mapping, cabc.MutableMapping)
_JSON_SCALARS = (str, int, float, bool, type(None))


class _Unknown(Exception):
    """A part of an annotation that a spec's values cannot be checked against."""


def encode_type(tp: Any) -> Any:
    """The table's form of the annotation ``tp``; None when it cannot be checked statically."""
    try:
        return _encode(tp)
    except _Unknown:
        return None


def _encode(tp: Any) -> Any:
    if tp in _SCALARS:
        return _SCALARS[tp]
    if tp is type(None):
        return "null"
    name = f"{getattr(tp, '__module__', '')}.{getattr(tp, '__qualname__', '')}"
    if name == "torch.Tensor":
        return "tensor"
    if name == "torch.Size":
        return {"list": "int"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"union": [_encode(a) for a in args]}
    if origin is typing.Literal:
        if not all(isinstance(a, _JSON_SCALARS) for a in args):
            raise _Unknown
        return {"literal": list(args)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"list": _encode(args[0])}
        return {"tuple": [_encode(a) for a in args]} if args else {"list": "any"}
    if origin in _SEQUENCES or tp in (list, tuple):
        return {"list": _encode(args[0]) if args else "any"}
    if origin in _MAPPINGS or tp is dict:
        return "dict"
    raise _Unknown


def value_fits(value: Any, encoded: Any) -> bool:
    """Whether a value read from YAML/JSON fits an encoded type (lists stand for tuples)."""
    if encoded == "any":
        return True
    if isinstance(encoded, str):
        return _fits_scalar(value, encoded)
    if "union" in encoded:
        return any(value_fits(value, t) for t in encoded["union"])
    if "literal" in encoded:
        return any(
            value == v and isinstance(value, bool) == isinstance(v, bool)
            for v in encoded["literal"]
        )
    if not isinstance(value, (list, tuple)):
        return False
    if "list" in encoded:
        return all(value_fits(v, encoded["list"]) for v in value)
    parts = encoded["tuple"]
    return len(parts) == len(value) and all(map(value_fits, value, parts))


def _fits_scalar(value: Any, encoded: str) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if encoded == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if encoded == "float":
        return number
    if encoded == "bool":
        return isinstance(value, bool)
    if encoded == "str":
        return isinstance(value, str)
    if encoded == "null":
        return value is None
    if encoded == "dict":
        return isinstance(value, dict)
    if encoded == "tensor":
        return number or (isinstance(value, list) and all(_fits_scalar(v, "tensor") for v in value))
    return True  # a form this version does not know: the constructor judges


def describe_encoded(encoded: Any) -> str:
    """``{"union": ["int", {"tuple": ["int", "int"]}]}`` -> ``int | tuple[int, int]``."""
    if isinstance(encoded, str):
        return "a number or a list of numbers" if encoded == "tensor" else encoded
    if "union" in encoded:
        parts = [t for t in encoded["union"] if t != "tensor" or "float" not in encoded["union"]]
        return " | ".join(dict.fromkeys(describe_encoded(t) for t in parts))
    if "literal" in encoded:
        return " | ".join(repr(v) for v in encoded["literal"])
    if "list" in encoded:
        inner = encoded["list"]
        return "a list" if inner == "any" else f"a list of {describe_encoded(inner)}"
    return f"[{', '.join(describe_encoded(t) for t in encoded['tuple'])}]"
