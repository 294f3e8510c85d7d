"""Strict JSON reading with the line and column of every key, duplicate keys refused.

The standard decoder is used with its pure-Python scanner and an object parser of our own,
which records where each key starts; the C scanner offers no hook for positions.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable
from typing import Any

from trainspec.errors import SpecError
from trainspec.spec._interp import expand_here
from trainspec.spec._limits import MAX_DEPTH
from trainspec.spec._paths import KeyPath, Origin, Origins

__all__ = ["parse_json"]

_WS = " \t\n\r"

# Pure-Python parts of the json module that typeshed does not list.
_Scan = Callable[[str, int], Any]
_MakeScanner = Callable[[json.JSONDecoder], _Scan]
_ParseArray = Callable[[tuple[str, int], _Scan], tuple[list[Any], int]]
_ScanString = Callable[[str, int, bool], tuple[str, int]]
_py_make_scanner: _MakeScanner = json.scanner.py_make_scanner  # type: ignore[attr-defined]
_json_array: _ParseArray = json.decoder.JSONArray  # type: ignore[attr-defined]
_scanstring: _ScanString = json.decoder.scanstring  # type: ignore[attr-defined]


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


class _Refused(Exception):
    """A problem found while scanning: a message and the offset it is about."""

    def __init__(self, message: str, pos: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.pos, self.hint = message, pos, hint


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


class _Decoder(json.JSONDecoder):
    def __init__(self) -> None:
        super().__init__()
        self.keys_at: dict[int, dict[str, int]] = {}  # id(dict) -> key -> offset of the key
        self.depth = 0
        self.parse_object = self._parse_object
        self.parse_array = self._parse_array
        self.scan_once = _py_make_scanner(self)

    def _enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(
                f"nesting is deeper than the limit of {MAX_DEPTH} levels",
                pos,
                "flatten the structure; a spec never needs this depth",
            )

    def _parse_array(self, s_and_end: tuple[str, int], scan_once: _Scan) -> tuple[list[Any], int]:
        self._enter(s_and_end[1] - 1)
        try:
            return _json_array(s_and_end, scan_once)
        finally:
            self.depth -= 1

    def _parse_object(
        self,
        s_and_end: tuple[str, int],
        strict: bool,
        scan_once: _Scan,
        *_hooks: Any,
    ) -> tuple[dict[str, Any], int]:
        text, pos = s_and_end
        self._enter(pos - 1)
        try:
            return self._members(text, pos, strict, scan_once)
        finally:
            self.depth -= 1

    def _members(
        self, text: str, pos: int, strict: bool, scan_once: _Scan
    ) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        where: dict[str, int] = {}
        self.keys_at[id(result)] = where
        pos = _skip(text, pos)
        if text[pos : pos + 1] == "}":
            return result, pos + 1
        while True:
            if text[pos : pos + 1] != '"':
                raise json.JSONDecodeError(
                    "Expecting property name enclosed in double quotes", text, pos
                )
            key_pos = pos
            key, pos = _scanstring(text, pos + 1, strict)
            pos = _skip(text, pos)
            if text[pos : pos + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
            pos = _skip(text, pos + 1)
            try:
                value, pos = scan_once(text, pos)
            except StopIteration as stop:
                raise json.JSONDecodeError("Expecting value", text, stop.value) from None
            if key in where:
                first, _ = _line_col(text, where[key])
                again, _ = _line_col(text, key_pos)
                raise _Refused(
                    f"duplicate key '{key}' (first at line {first}, again at line {again})",
                    key_pos,
                    "keep one; a repeated key would silently replace the first",
                )
            where[key], result[key] = key_pos, value
            pos = _skip(text, pos)
            if text[pos : pos + 1] == "}":
                return result, pos + 1
            if text[pos : pos + 1] != ",":
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            pos = _skip(text, pos + 1)


def parse_json(text: str, source: str, here: str) -> tuple[Any, Origins]:
    """Parse JSON into plain data and the origin of every key; ``${here}`` becomes ``here``."""
    decoder = _Decoder()
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise SpecError.single(
            f"JSON syntax error: {exc.msg}", file=source, line=exc.lineno, column=exc.colno
        ) from None
    except _Refused as exc:
        line, column = _line_col(text, exc.pos)
        raise SpecError.single(
            exc.message, file=source, line=line, column=column, hint=exc.hint
        ) from None
    origins: Origins = {(): Origin(source)}
    lines = [0] + [m.end() for m in re.finditer("\n", text)]  # offset where each line starts

    def where(pos: int) -> Origin:
        line = bisect.bisect_right(lines, pos)
        return Origin(source, line, pos - lines[line - 1] + 1)

    return _finish(value, (), here, decoder.keys_at, where, origins), origins


def _finish(
    value: Any,
    path: KeyPath,
    here: str,
    keys_at: dict[int, dict[str, int]],
    where: Callable[[int], Origin],
    origins: Origins,
) -> Any:
    """Expand ``${here}`` and record origins, walking the decoded value once."""
    if isinstance(value, str):
        return expand_here(value, here)
    if isinstance(value, list):
        return [_finish(v, (*path, i), here, keys_at, where, origins) for i, v in enumerate(value)]
    if isinstance(value, dict):
        offsets = keys_at.get(id(value), {})
        for key in value:
            if key in offsets:
                origins[(*path, key)] = where(offsets[key])
            value[key] = _finish(value[key], (*path, key), here, keys_at, where, origins)
    return value
