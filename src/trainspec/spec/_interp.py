"""Interpolation: ``${here}``, ``${a.b}``, ``${env:NAME}`` and ``${env:NAME,default}``.

- ``${here}`` is replaced when a file is read, by the absolute folder of the file it is written
  in, so a spec can name data beside itself: ``path: ${here}/data.h5``. (In a mapping passed
  from Python or in a command-line override it is the working directory.)
- After merging and overrides, ``${a.b}`` takes the value at the key path ``a.b`` of the
  resolved spec (``${model.layers[0].out_features}`` or ``...layers.0...`` for list items). A
  string that is exactly one reference keeps the referenced value's type; a reference inside
  a longer string is inserted as text.
- ``${env:NAME}`` is an environment variable and ``${env:NAME,default}`` one with a fallback.
  The value is a string; the schema converts it (``"3"`` to 3 for an integer field).
- ``$${`` writes a literal ``${``.

A reference may point at a value that holds references; a cycle is an error. References
cannot be nested (``${env:A,${b}}`` is not supported).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from typing import Any

from trainspec.errors import SpecError, closest, format_path
from trainspec.spec._paths import (
    KeyPath,
    Origin,
    all_paths,
    get_at,
    lookup_origin,
    parse_path,
)

__all__ = ["expand_here", "interpolate"]

_HERE = re.compile(r"(?<!\$)\$\{here\}")
_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}")
_FULL = re.compile(r"^\$\{([^{}]*)\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def expand_here(text: str, here: str) -> str:
    """Replace ``${here}`` (not ``$${here}``) by ``here``."""
    if "${here}" not in text:
        return text
    return _HERE.sub(lambda _: here, text)


def interpolate(
    data: Mapping[str, Any],
    origins: Mapping[KeyPath, Origin] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A copy of ``data`` with every ``${...}`` resolved against ``data`` itself."""
    resolver = _Resolver(data, origins or {}, os.environ if environ is None else environ)
    return {key: resolver.resolve(value, (key,)) for key, value in data.items()}


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


class _Resolver:
    def __init__(
        self, root: Mapping[str, Any], origins: Mapping[KeyPath, Origin], env: Mapping[str, str]
    ) -> None:
        self.root = root
        self.origins = origins
        self.env = env
        self.done: dict[KeyPath, Any] = {}
        self.stack: list[KeyPath] = []

    def error(self, message: str, at: KeyPath, hint: str | None = None) -> SpecError:
        origin = lookup_origin(self.origins, at)
        return SpecError.single(
            message,
            path=at,
            file=origin.source if origin else None,
            line=origin.line if origin else None,
            column=origin.column if origin else None,
            hint=hint,
        )

    def resolve(self, value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if isinstance(value, dict):
            return {k: self.resolve(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def string(self, text: str, at: KeyPath) -> Any:
        if "${" not in text:
            return text
        full = _FULL.match(text)
        if full:
            return self.expression(full.group(1), at)

        def insert(match: re.Match[str]) -> str:
            if match.group(1) is None:  # the escape $${
                return "${"
            value = self.expression(match.group(1), at)
            if isinstance(value, dict | list):
                kind = "a mapping" if isinstance(value, dict) else "a list"
                raise self.error(
                    f"'{match.group(0)}' is {kind} and cannot be put inside a longer string",
                    at,
                    "make the reference the whole value",
                )
            return _render(value)

        return _TOKEN.sub(insert, text)

    def expression(self, expr: str, at: KeyPath) -> Any:
        expr = expr.strip()
        if expr.startswith("env:"):
            return self.env_value(expr[4:], at)
        try:
            target = parse_path(expr)
        except ValueError as exc:
            raise self.error(f"bad reference '${{{expr}}}': {exc}", at) from None
        return self.lookup(target, expr, at)

    def env_value(self, body: str, at: KeyPath) -> str:
        name, has_default, default = body.partition(",")
        name = name.strip()
        if not _ENV_NAME.match(name):
            raise self.error(
                f"bad environment variable name {name!r} in '${{env:{body}}}'",
                at,
                "write ${env:NAME} or ${env:NAME,default}",
            )
        value = self.env.get(name)
        if value is not None:
            return value
        if has_default:
            return default.strip()
        raise self.error(
            f"environment variable {name} is not set",
            at,
            f"set it, or give a default: ${{env:{name},default}}",
        )

    def lookup(self, target: KeyPath, expr: str, at: KeyPath) -> Any:
        if target in self.done:
            return copy.deepcopy(self.done[target])
        if target in self.stack:
            chain = [*self.stack[self.stack.index(target) :], target]
            raise self.error(
                "references form a cycle: " + " -> ".join(format_path(p) for p in chain),
                at,
                "break the cycle by writing one of the values out",
            )
        try:
            raw = get_at(self.root, target)
        except KeyError as missing:
            near = closest(format_path(target), all_paths(self.root))
            gone = format_path(missing.args[0])
            raise self.error(
                f"'${{{expr}}}' refers to a key that does not exist ('{gone}' is missing)",
                at,
                f"did you mean '{near}'?" if near else None,
            ) from None
        self.stack.append(target)
        try:
            value = self.resolve(raw, target)
        finally:
            self.stack.pop()
        self.done[target] = value
        return copy.deepcopy(value)
