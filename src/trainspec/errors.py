"""Errors a user sees. Each says what rule was broken, the value seen, where, and the fix.

This module imports nothing heavy: every layer, the spec layer included, may raise these.
"""

from __future__ import annotations

import difflib
import os
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DataError",
    "FormatError",
    "IntegrityError",
    "ModelError",
    "Problem",
    "RegistryError",
    "SpecError",
    "StorageError",
    "TrainingError",
    "TrainspecError",
    "closest",
    "format_path",
    "raised_at",
    "user_frame",
]

# Frames under these folders are library code (trainspec, the standard library, installed
# packages), never the user's own.
_LIBRARY_ROOTS = tuple(
    {
        str(Path(__file__).resolve().parent),
        *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
        sys.prefix,
        sys.base_prefix,
    }
)


def user_frame(exc: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame of ``exc``'s traceback in the user's own code, if any."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        if not frame.filename.startswith("<") and not path.startswith(_LIBRARY_ROOTS):
            found = frame
    return found


def raised_at(exc: BaseException) -> str:
    """``" (raised at nets.py:12 in __init__: <the line>)"`` for an exception from the user's
    code; empty otherwise. Appended to messages about users' modules, datasets and losses."""
    frame = user_frame(exc)
    if frame is None:
        return ""
    line = (frame.line or "").strip()
    return f" (raised at {frame.filename}:{frame.lineno} in {frame.name}: {line})"


def format_path(path: Sequence[str | int]) -> str:
    """``("model", "blocks", 0, "out")`` -> ``model.blocks[0].out``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<top level>"


def closest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate nearest to ``word``, or None when nothing is near enough.

    Case is ignored first: a name that differs only in case wins outright, and similarity is
    measured on lower-cased names, so ``Adamw2`` suggests ``AdamW`` rather than ``Adam``.
    """
    pool = sorted(set(candidates))
    lowered: dict[str, str] = {}
    for candidate in pool:
        lowered.setdefault(candidate.lower(), candidate)
    key = word.lower()
    if key in lowered:
        return lowered[key]
    matches = difflib.get_close_matches(key, list(lowered), n=1, cutoff=cutoff)
    if matches:
        return lowered[matches[0]]
    exact = difflib.get_close_matches(word, pool, n=1, cutoff=cutoff)
    return exact[0] if exact else None


class TrainspecError(Exception):
    """Base of every error trainspec raises on purpose. The CLI exits 2 on these."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem in a spec: where it is (file and key path), what is wrong, and the fix."""

    message: str
    path: tuple[str | int, ...] = ()
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None

    def render(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = (
            f"{where}: {format_path(self.path)}: {self.message}"
            if self.path
            else (f"{where}: {self.message}")
        )
        if self.hint:
            text += f" ({self.hint})"
        return text


@dataclass
class SpecError(TrainspecError):
    """One or more problems in a spec, reported together."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0].render()
        lines = [f"{len(self.problems)} problems in the spec:"]
        lines += [f"  - {p.render()}" for p in self.problems]
        return "\n".join(lines)

    @classmethod
    def single(
        cls,
        message: str,
        *,
        path: Sequence[str | int] = (),
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> SpecError:
        return cls([Problem(message, tuple(path), file, line, column, hint)])


class RegistryError(TrainspecError):
    """An unknown component name or a refused import path."""


class DataError(TrainspecError):
    """Data that cannot be used as configured: a missing file or column, NaNs, an empty split."""


class ModelError(TrainspecError):
    """An architecture that cannot be built: unknown block, bad reference, shape mismatch."""


class TrainingError(TrainspecError):
    """Training that cannot start or go on: a bad optimiser, a non-finite loss, a bad resume."""


class IntegrityError(TrainspecError):
    """A checkpoint or model directory whose files do not match their manifest's checksums."""


class StorageError(TrainspecError):
    """A write that failed for want of space or permission: a full disk, a read-only file
    system, a folder the user may not write to."""


class FormatError(TrainspecError):
    """A file written by a newer trainspec (a format version this one does not read), or one
    whose format version is not a version number."""
