"""Splitting ``SPEC... key=value ~key`` command-line arguments."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["split_args"]


def split_args(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Spec files and overrides: ``a.b=1`` and ``~a.b`` are overrides, the rest are files."""
    specs: list[str] = []
    overrides: list[str] = []
    for arg in args:
        if arg.startswith("~") or ("=" in arg and not arg.startswith(("./", "/"))):
            overrides.append(arg)
        else:
            specs.append(arg)
    return specs, overrides
