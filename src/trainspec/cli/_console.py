"""Printing for the CLI: results on stdout, problems on stderr."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console

__all__ = ["err", "out", "render_table", "stdout_to_stderr"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def render_table(
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    *,
    drop: list[str] | None = None,
    wide: bool = False,
) -> None:
    """A table on stdout whose first column (the identifier: a run, a block, a metric) is never
    cut. On a terminal narrower than the table, the columns in ``drop`` go first (in that
    order, least important first), then the others from the right; piped output and ``wide``
    keep every column at full width, so scripts and ``grep`` see whole values."""
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
    table = Table(title=title, title_justify="left")
    for i in keep:
        first = i == 0
        table.add_column(
            columns[i],
            justify="left" if first else "right",
            no_wrap=first,
            min_width=_natural(columns, cells, i) if first else None,
        )
    for row in cells:
        table.add_row(*(row[i] for i in keep))
    if limit is None:  # rich caps a print's width at the console's: a console as wide as the table
        width = max(_table_width(columns, cells, keep), len(title))
        Console(highlight=False, width=width, no_color=out.no_color).print(table)
    else:
        out.print(table)


def _natural(columns: list[str], cells: list[list[str]], i: int) -> int:
    return max([len(columns[i]), *(len(row[i]) for row in cells)])


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
