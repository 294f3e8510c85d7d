"""Per-repeat parameters such as ``dilation: "2**i"``, evaluated safely (an ``ast`` walk over
arithmetic on numbers and the names ``i`` and ``n``; never ``eval``)."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["REPEAT_NAMES", "evaluate", "is_expression", "substitute"]

REPEAT_NAMES = ("i", "n")  # the copy's index (0-based) and the number of copies

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


def is_expression(value: Any) -> bool:
    """True for strings such as ``"2**i"`` that mention ``i`` or ``n``; ``"same"`` is not one."""
    if not isinstance(value, str):
        return False
    tree = _parse(value)
    if tree is None:
        return False
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return bool(names & set(REPEAT_NAMES)) and names <= {*REPEAT_NAMES, *_FUNCTIONS}


def _eval(node: ast.expr, env: Mapping[str, int]) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in env:
        return env[node.id]
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


def evaluate(text: str, env: Mapping[str, int]) -> int | float:
    """The value of an arithmetic expression over the names in ``env``.

    Raises ``ValueError`` for anything but numbers, those names, ``+ - * / // % **``, unary
    minus and ``min``/``max``/``abs``.
    """
    tree = _parse(text)
    if tree is None:
        raise ValueError(f"{text!r} is not an arithmetic expression")
    try:
        value = _eval(tree, env)
    except ZeroDivisionError:
        raise ValueError(f"{text!r} divides by zero") from None
    return int(value) if isinstance(value, bool) else value


def substitute(value: Any, env: Mapping[str, int]) -> Any:
    """``value`` with every expression string in it (in lists and mappings too) evaluated."""
    if is_expression(value):
        return evaluate(value, env)
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    return value
