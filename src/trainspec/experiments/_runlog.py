"""The run's log file: trainspec's lines and other libraries' INFO lines and warnings, with
times, in ``<run>/train.log``; while the run lasts, other libraries reach the terminal only
with errors, so the terminal shows trainspec's own progress and results."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from trainspec.files import RunDir

__all__ = ["run_log"]

# Loggers of libraries a run touches that write to the terminal themselves (MLflow installs
# its own stderr handler on these) and ``py.warnings``, where ``logging.captureWarnings`` sends
# ``warnings.warn`` (torch's, SQLAlchemy's, MLflow's).
_OTHERS = ("mlflow", "alembic", "py.warnings")


@contextlib.contextmanager
def run_log(run_dir: Path, *, mlflow: bool = False) -> Iterator[Path]:
    """Everything logged while the block runs is appended to ``run_dir/train.log``.

    ``mlflow``: import MLflow first, so that the handlers it installs on import are in place
    before they are replaced here (and not afterwards, over the run's file)."""
    if mlflow:
        with contextlib.suppress(ImportError):
            import mlflow as _mlflow  # noqa: F401

    path = RunDir(run_dir).log
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    errors = logging.StreamHandler(sys.stderr)
    errors.setLevel(logging.ERROR)
    errors.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    was_capturing = logging._warnings_showwarning is not None  # type: ignore[attr-defined]
    saved = []
    for name in _OTHERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers, logger.level, logger.propagate))
        logger.handlers = [to_file, errors]
        logger.setLevel(logging.WARNING if name == "alembic" else logging.INFO)
        logger.propagate = False
    ours = logging.getLogger("trainspec")
    ours.addHandler(to_file)
    logging.captureWarnings(True)
    try:
        yield path
    finally:
        if not was_capturing:
            logging.captureWarnings(False)
        ours.removeHandler(to_file)
        for logger, handlers, level, propagate in saved:
            logger.handlers, logger.level, logger.propagate = handlers, level, propagate
        to_file.close()
