"""Printing for the CLI: results on stdout, problems on stderr."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

__all__ = ["err", "fits", "out", "render_table", "stdout_to_stderr"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def render_table(
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    *,
    drop: list[str] | None = None,
    wide: bool | None = None,
) -> None:
    """A table on stdout that never cuts a value: names, paths, classes and numbers print
    whole, as plain text (a ``[b]`` in a value is not read as markup).

    On a terminal narrower than the table, whole columns are hidden instead, those in ``drop``
    first (least important first), then the others from the right; the first column (the
    identifier: a run, a block, a metric) always stays, and a note on stderr names the hidden
    columns. Piped output and ``wide=True`` keep every column, so scripts and ``grep`` see
    every value; ``wide`` is None where the command has no ``--wide`` flag."""
    from rich.table import Table

    cells = [[_fmt(v) for v in row] for row in rows]
    keep = list(range(len(columns)))
    limit = None if wide or not out.is_terminal else out.width
    if limit is not None:
        order = [columns.index(c) for c in drop or [] if c in columns]
        order += [i for i in reversed(keep) if i not in order and i != 0]
        for i in order:
            if _table_width(columns, cells, keep) <= limit:
                break
            keep.remove(i)
    table = Table(title=Text(title), title_justify="left")
    for i in keep:
        table.add_column(
            Text(columns[i]),
            justify="right" if i and _numeric(cells, i) else "left",
            no_wrap=True,
            min_width=_natural(columns, cells, i),
        )
    for row in cells:
        table.add_row(*(Text(row[i]) for i in keep))
    if limit is None:  # rich caps a print's width at the console's: a console as wide as the table
        width = max(_table_width(columns, cells, keep), cell_len(title))
        Console(highlight=False, width=width, no_color=out.no_color).print(table)
        return
    out.print(table)
    hidden = [columns[i] for i in range(len(columns)) if i not in keep]
    if hidden:
        flag = "--wide, " if wide is False else ""
        err.print(
            f"{len(hidden)} column(s) hidden to fit {limit} columns: {', '.join(hidden)} "
            f"({flag}a wider terminal or a pipe shows them)",
            markup=False,
            highlight=False,
        )


def fits(columns: list[str], rows: list[list[Any]], *, wide: bool = False) -> bool:
    """Whether ``render_table`` would show every column: piped, ``wide``, or a terminal wide
    enough for the table."""
    if wide or not out.is_terminal:
        return True
    cells = [[_fmt(v) for v in row] for row in rows]
    return _table_width(columns, cells, list(range(len(columns)))) <= out.width


def _numeric(cells: list[list[str]], i: int) -> bool:
    """Whether every value of column ``i`` reads as a number (right-aligned, names left)."""
    values = [row[i] for row in cells if row[i]]
    if not values:
        return True
    try:
        for value in values:
            float(value.rstrip("%").replace(",", ""))
    except ValueError:
        return False
    return True


def _natural(columns: list[str], cells: list[list[str]], i: int) -> int:
    return max([cell_len(columns[i]), *(cell_len(row[i]) for row in cells)])


def _table_width(columns: list[str], cells: list[list[str]], keep: list[int]) -> int:
    # rich's default box: one border per column plus one, and a space of padding either side
    return sum(_natural(columns, cells, i) + 3 for i in keep) + 1


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return "" if value is None else str(value)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send what users' code prints while it runs (a module's ``__init__`` or ``forward``) to
    stderr, so that stdout carries only the command's own output (``--json`` stays JSON).

    Python's ``sys.stdout`` is redirected, and file descriptor 1 as well when it is a real
    file, for output written below Python (C extensions, subprocesses)."""
    sys.stdout.flush()
    try:
        fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream (tests) has no fd
        fd = err_fd = -1
    saved = os.dup(fd) if fd >= 0 else -1
    if saved >= 0:
        os.dup2(err_fd, fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved >= 0:
            os.dup2(saved, fd)
            os.close(saved)
