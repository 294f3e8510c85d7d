"""What ``fit`` hands back, and what callbacks see of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FitContext", "FitResult"]


@dataclass
class FitContext:
    """The run as callbacks see it at ``on_fit_start``.

    ``tracker_run_id`` is restored from the checkpoint on resume; a tracker callback may set it
    so that later checkpoints carry it and a resumed run logs to the same tracker run.
    """

    run_dir: Path | None
    resumed: bool
    start_epoch: int
    epochs: int
    global_step: int
    history: list[dict[str, float]]
    tracker_run_id: str | None = None
    monitor: str | None = None  # the metric that picks the best epoch (train.monitor.metric)


@dataclass
class FitResult:
    """The outcome of ``fit``.

    ``history`` holds one row per completed epoch (``epoch``, ``step``, ``train/loss``,
    ``val/...``, ``lr``, ``train/skipped``, ``time``); ``module`` has the weights at the end
    (the best ones are in ``run_dir/checkpoints/best/``). A scikit-learn model's trainer
    reports its one fit as one epoch, with the ``Model`` as ``module``.
    """

    module: Any
    history: list[dict[str, float]] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    monitor: str = "val/loss"
    stopped_early: bool = False
    interrupted: bool = False
    global_step: int = 0
    run_dir: Path | None = None
    tracker_run_id: str | None = None
