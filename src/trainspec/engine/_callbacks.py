"""Callbacks (the hooks a tracker or a user plugs into ``fit``) and progress display."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from trainspec.registry import registry

from ._result import FitContext, FitResult

__all__ = ["Callback", "EpochLines", "LogLines", "Progress", "make_progress"]

log = logging.getLogger("trainspec.progress")


class Callback:
    """Hooks called by ``fit``; subclass and override the ones you need.

    Only rank 0 calls them in data-parallel training. They observe the run: changing the
    module or the optimiser from a callback is not supported.
    """

    def on_fit_start(self, context: FitContext) -> None:
        """Before the first step (after a resume's state is restored)."""

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        """After each epoch's evaluation, with the row written to ``metrics.jsonl``."""

    def on_checkpoint(self, path: Path, *, best: bool) -> None:
        """After a checkpoint is written to ``path``; ``best`` when it is a new best."""

    def on_fit_end(self, result: FitResult) -> None:
        """Once, when training ends, stops early or is interrupted."""


LINE_WIDTH = 80


def format_row(row: Mapping[str, float], epochs: int, monitor: str | None = None) -> str:
    """One epoch as a line of at most ``LINE_WIDTH`` characters: the epoch and the monitored
    metric first, then the losses, the other metrics, the learning rate and the seconds taken,
    as many as fit (every value is in ``metrics.jsonl``)."""
    rest = [k for k in row if k not in ("epoch", "step", monitor)]
    order = sorted(rest, key=lambda k: (k not in ("train/loss", "val/loss"), k in ("lr", "time")))
    line = f"epoch {int(row['epoch'])}/{epochs}"
    for key in [monitor, *order] if monitor in row else order:
        assert key is not None
        value = row[key]
        part = f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
        if len(line) + 2 + len(part) > LINE_WIDTH:
            continue
        line += "  " + part
    return line


@registry.register("callback", "log_lines")
class LogLines(Callback):
    """One log line per epoch, on the ``trainspec.progress`` logger."""

    def __init__(self, epochs: int = 0, monitor: str | None = None) -> None:
        self.epochs = epochs
        self.monitor = monitor

    def on_fit_start(self, context: FitContext) -> None:
        self.epochs = context.epochs
        self.monitor = self.monitor or context.monitor

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        log.info("%s", format_row(row, self.epochs, self.monitor))


class EpochLines(Callback):
    """One line per epoch written to ``stream`` (default: ``sys.stderr`` as it is when the
    line is written), as the CLI shows them: what ``train_model(..., verbose=True)`` uses,
    where no logging is configured."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.epochs = 0
        self.monitor: str | None = None

    def on_fit_start(self, context: FitContext) -> None:
        self.epochs, self.monitor = context.epochs, context.monitor

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        self.write(format_row(row, self.epochs, self.monitor))

    def write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


class Progress:
    """Progress within epochs. This base shows nothing (``progress: none``)."""

    def start_epoch(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        pass

    def step(self, done: int, loss: Callable[[], float]) -> None:
        """``done`` batches into the epoch; ``loss()`` (a device sync) only when displayed."""

    def end_epoch(self, row: Mapping[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class _Lines(Progress):
    def __init__(self, monitor: str | None) -> None:
        self.epochs = 0
        self.monitor = monitor

    def start_epoch(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        self.epochs = epochs

    def end_epoch(self, row: Mapping[str, float]) -> None:
        log.info("%s", format_row(row, self.epochs, self.monitor))


class _Bar(Progress):
    """A rich progress bar on stderr, refreshed at most ten times a second."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self._bar.start()
        self._task: Any = None
        self._next = 0.0
        self.epochs = 0

    def start_epoch(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        self.epochs = epochs
        self._task = self._bar.add_task(
            f"epoch {epoch + 1}/{epochs}", total=batches, completed=done, info=""
        )

    def step(self, done: int, loss: Callable[[], float]) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + 0.1
            self._bar.update(self._task, completed=done, info=f"loss {loss():.4g}")

    def end_epoch(self, row: Mapping[str, float]) -> None:
        info = "  ".join(
            f"{k} {v:.4g}"
            for k, v in row.items()
            if k not in ("epoch", "step", "time") and isinstance(v, float)
        )
        task = self._bar.tasks[-1]
        self._bar.update(self._task, completed=task.total, info=info)

    def close(self) -> None:
        self._bar.stop()


def make_progress(mode: str, *, rank: int = 0, monitor: str | None = None) -> Progress:
    """``auto``: a bar on a terminal, one log line per epoch otherwise; ``none``: quiet."""
    if rank != 0 or mode == "none":
        return Progress()
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "lines"
    return _Bar() if mode == "bar" else _Lines(monitor)


def call(callbacks: Sequence[Callback], hook: str, *args: Any, **kwargs: Any) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args, **kwargs)
