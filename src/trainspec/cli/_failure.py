"""What the CLI says when a command fails in a way trainspec did not foresee.

A user error (``TrainspecError``) is one message and exit status 2, without a traceback. An
exception raised inside the user's own code (their module's ``__init__`` or ``forward``, their
Dataset, their loss) is reported with the user's file and line, also with status 2. Anything
else is an internal error: a short message and status 1, the traceback written to a log file
whose path is printed (and shown on the terminal with ``--debug``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path

from trainspec.errors import user_frame

__all__ = ["describe_failure", "write_traceback"]


def write_traceback(exc: BaseException) -> Path:
    """The full traceback in a new log file (kept for a bug report)."""
    fd, name = tempfile.mkstemp(prefix="trainspec-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"trainspec {' '.join(sys.argv[1:])}\n\n")
        fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return Path(name)


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """(message, exit status) for an exception that is not a ``TrainspecError``."""
    log = write_traceback(exc)
    frame = user_frame(exc)
    what = f"{type(exc).__name__}: {exc}"
    if frame is not None:
        return (
            f"your code raised {what}\n  at {frame.filename}:{frame.lineno} in {frame.name}: "
            f"{(frame.line or '').strip()}\n  full traceback: {log}",
            2,
        )
    return (
        f"internal error: {what}\n  this is a bug in trainspec; the traceback is in {log} "
        "(run with --debug to print it)",
        1,
    )
