"""Per-repeat parameters such as ``dilation: "2**i"`` and a sub-graph's parameters in its
blocks (``out_channels: planes``, ``"planes * 4"``), evaluated safely: an ``ast`` walk over
arithmetic on numbers and known names, never ``eval``. A string that is one known name stands
for that name's value, whatever its type; arithmetic takes numbers only."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Collection, Mapping
from typing import Any

from trainspec.spec import REPEAT_NAMES

__all__ = ["REPEAT_NAMES", "evaluate", "is_expression", "substitute"]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs}
_MAX_MAGNITUDE = 10**12  # keeps "10**10**10" from hanging the builder


def _parse(text: str) -> ast.expr | None:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return None


def is_expression(value: Any, names: Collection[str] = REPEAT_NAMES) -> bool:
    """True for strings such as ``"2**i"`` that mention one of ``names`` and nothing unknown;
    ``"same"`` is not one (unless ``same`` is one of ``names``)."""
    if not isinstance(value, str):
        return False
    tree = _parse(value)
    if tree is None:
        return False
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return bool(used & set(names)) and used <= {*names, *_FUNCTIONS}


def _number(name: str, env: Mapping[str, Any]) -> int | float:
    value = env[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} is {value!r}, not a number, so it cannot be used in arithmetic")
    return value


def _eval(node: ast.expr, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in env:
        return _number(node.id, env)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError(f"exponent {right} is too large")
        result = _BINARY[type(node.op)](left, right)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        result = _UNARY[type(node.op)](_eval(node.operand, env))
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        result = _FUNCTIONS[node.func.id](*(_eval(a, env) for a in node.args))
    else:
        raise ValueError(f"{ast.unparse(node)!r} is not allowed (numbers, i, n, + - * / // % **)")
    if abs(result) > _MAX_MAGNITUDE:
        raise ValueError(f"the result {result} is too large")
    return result


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """The value of an arithmetic expression over the names in ``env`` (a bare name: its
    value, of any type).

    Raises ``ValueError`` for anything but numbers, those names, ``+ - * / // % **``, unary
    minus and ``min``/``max``/``abs``.
    """
    tree = _parse(text)
    if tree is None:
        raise ValueError(f"{text!r} is not an arithmetic expression")
    if isinstance(tree, ast.Name) and tree.id in env:
        return env[tree.id]
    try:
        value = _eval(tree, env)
    except ZeroDivisionError:
        raise ValueError(f"{text!r} divides by zero") from None
    return int(value) if isinstance(value, bool) else value


def substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """``value`` with every expression over ``env``'s names in it (in lists and mappings too)
    evaluated."""
    if is_expression(value, env.keys()):
        return evaluate(value, env)
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    return value
