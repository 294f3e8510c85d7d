"""A tracker run made complete from the run's own ``metrics.jsonl``.

Metrics reach a store in batches; a process killed with SIGKILL loses the batch it held. The
run directory's ``metrics.jsonl`` has every epoch, so ``reconcile`` (which marks such a run
KILLED) logs the values the store lacks from it, and a resumed run replays its history (see
``TrackerCallback``); either way the store ends with what the file holds, nothing twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from trainspec.files import RunDir

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["backfill_mlflow", "metrics_files", "read_metric_rows"]

_NOT_METRICS = ("epoch", "step")
_MAX_PER_BATCH = 1000


def metrics_files(run_dir: Path) -> list[tuple[RunDir, str]]:
    """``(run or fold, key prefix)`` of a run's metrics: its own, or one per fold (``fold0/``)."""
    run = RunDir(run_dir)
    if run.metrics.is_file():
        return [(run, "")]
    return [(f, f"fold{f.path.name}/") for f in run.folds() if f.metrics.is_file()]


def read_metric_rows(run: RunDir, prefix: str = "") -> Iterator[tuple[int, str, float]]:
    """``(epoch, key, value)`` of every finite value in the run's ``metrics.jsonl``; a torn
    last line (the process died writing it) is skipped."""
    for row in run.read_metrics():
        if not isinstance(row.get("epoch"), int):
            continue
        for key, value in row.items():
            if key in _NOT_METRICS or isinstance(value, bool):
                continue
            if isinstance(value, int | float) and math.isfinite(value):
                yield int(row["epoch"]), f"{prefix}{key}", float(value)


def backfill_mlflow(client: MlflowClient, run_id: str, run_dir: Path) -> int:
    """Log to MLflow run ``run_id`` every value of ``run_dir``'s metrics files at an epoch
    past the last one the store holds for that key; returns how many were logged."""
    from mlflow.entities import Metric

    last: dict[str, int] = {}
    now = int(time.time() * 1000)
    missing: list[Metric] = []
    for run, prefix in metrics_files(run_dir):
        for epoch, key, value in read_metric_rows(run, prefix):
            if key not in last:
                history = client.get_metric_history(run_id, key)
                last[key] = max((m.step for m in history), default=-1)
            if epoch > last[key]:
                missing.append(Metric(key, value, now, epoch))
    for start in range(0, len(missing), _MAX_PER_BATCH):
        client.log_batch(run_id, metrics=missing[start : start + _MAX_PER_BATCH])
    return len(missing)
