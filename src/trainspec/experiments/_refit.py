"""``train.refit``: after k-fold cross-validation, one model trained on all non-test data for
the folds' mean best epoch count, saved as the run's own model (``RUN/model``,
``RUN/checkpoints``, ``RUN/transforms``), so that ``trainspec predict RUN`` uses it."""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.experiments._fold import FoldRun, train_fold
from trainspec.experiments._rundir import summarize_history

if TYPE_CHECKING:
    from trainspec.engine import Callback

__all__ = ["REFIT_RULE", "refit_epochs", "refit_run", "refit_summary"]

log = logging.getLogger(__name__)

REFIT_RULE = "mean over folds of each fold's best epoch, rounded half up, at least 1"


def _fold_best(result: Mapping[str, Any]) -> int:
    """A fold's best epoch (1-based); a fold whose monitored value was never finite counts
    the epochs it trained."""
    best = result.get("best_epoch")
    if isinstance(best, int) and best >= 1:
        return best
    return max(1, len(result.get("history") or []))


def refit_epochs(results: Sequence[Mapping[str, Any]]) -> tuple[int, list[int]]:
    """``(epochs, per_fold_best)``: the epoch count the refit trains for (see REFIT_RULE)."""
    per_fold = [_fold_best(r) for r in results]
    return max(1, math.floor(statistics.fmean(per_fold) + 0.5)), per_fold


def refit_run(
    run: FoldRun, results: Sequence[Mapping[str, Any]], run_dir: Path, callbacks: Sequence[Callback]
) -> dict[str, Any]:
    """Train the refit model in ``run_dir`` (the run's own folder, beside ``folds/``).

    Its spec is the run's with ``train.epochs`` set to the chosen count, no early stopping
    (there is no validation split to stop on) and the default monitor (``train/loss`` without
    validation data), so ``checkpoints/best`` is the epoch with the lowest training loss."""
    from trainspec.spec import MonitorSpec

    job = run.job
    epochs, per_fold = refit_epochs(results)
    train = job.train.model_copy(
        update={"epochs": epochs, "early_stopping": None, "monitor": MonitorSpec()}
    )
    refit_loaded = dataclasses.replace(run.loaded, job=job.model_copy(update={"train": train}))
    log.info(
        "refit: training on all non-test data for %d epochs (folds' best epochs %s, by %s)",
        epochs,
        per_fold,
        job.train.monitor.metric,
    )
    fold = run.prepared.refit_fold()
    result = train_fold(dataclasses.replace(run, loaded=refit_loaded), fold, run_dir, callbacks)
    result["epochs"] = epochs
    result["fold_best_epochs"] = per_fold
    result["fold_monitor"] = job.train.monitor.metric
    result["n_train"] = len(fold.indices["train"])
    return result


def refit_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` records under ``refit``."""
    history = result["history"]
    monitor = "train/loss"
    out = summarize_history(history, monitor=monitor, mode="min")
    out.update(
        status=result["status"],
        epochs=result["epochs"],
        chosen_by={
            "rule": REFIT_RULE,
            "fold_best_epochs": result["fold_best_epochs"],
            "fold_monitor": result["fold_monitor"],
        },
        monitor={"metric": monitor, "mode": "min"},
        n_train=result["n_train"],
    )
    if "test" in result:
        out["test"] = result["test"]
    return out
