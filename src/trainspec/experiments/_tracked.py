"""Connecting a run to its tracker: parameters at the start, metrics per epoch, files at the end."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainspec.engine import Callback, FitContext
from trainspec.files import RunDir
from trainspec.spec import LoadedSpec
from trainspec.tracking import Tracker, create_tracker, spec_params

__all__ = [
    "TrackedAs",
    "TrackerCallback",
    "log_mlflow_model",
    "log_run_files",
    "start_tracking",
]

_NOT_METRICS = ("epoch", "step")


@dataclass(frozen=True)
class TrackedAs:
    """How a run shows in its tracker beyond its spec: a sweep's trial is a child run named
    after the sweep and the trial, with the values it drew as parameters."""

    parent_run_id: str | None = None
    run_name: str | None = None  # default: the run directory's name
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)  # logged beside the spec's
    log_model: bool | None = None  # default: a run that is nobody's child logs its model

    @property
    def logs_model(self) -> bool:
        return self.parent_run_id is None if self.log_model is None else self.log_model


class TrackerCallback(Callback):
    """Sends each epoch's row to the tracker, with the epoch as the step.

    ``prefix`` keeps the folds of a cross-validation apart in one run (``fold0/val/loss``).
    """

    def __init__(self, tracker: Tracker, *, prefix: str = "") -> None:
        self.tracker = tracker
        self.prefix = prefix

    def on_fit_start(self, context: FitContext) -> None:
        context.tracker_run_id = self.tracker.run_id
        if context.resumed:
            # Epochs logged before a kill may never have left the tracker's buffer; the
            # checkpoint's history has them all, and the store skips what it already holds.
            for row in context.history:
                self.on_epoch_end(row)

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        metrics = {
            f"{self.prefix}{k}": float(v)
            for k, v in row.items()
            if k not in _NOT_METRICS and isinstance(v, int | float) and math.isfinite(v)
        }
        self.tracker.log_metrics(metrics, step=int(row["epoch"]))


def _git_commit(run_dir: Path) -> str:
    env = RunDir(run_dir).read_or(RunDir.ENVIRONMENT) or {}
    return str(env.get("git", {}).get("commit") or "")


def start_tracking(
    loaded: LoadedSpec,
    run_dir: Path,
    *,
    resume: bool,
    tracked: TrackedAs | None = None,
) -> Tracker:
    """Create the job's tracker and start (or, on resume, continue) the run's tracker run.

    The tracker run id is kept in ``run_dir/tracking.json`` so that ``--resume`` logs to the
    same run and no epoch is logged twice.
    """
    job = loaded.job
    assert job is not None
    tracked = tracked or TrackedAs()
    tracker = create_tracker(job.tracking, runs_root=Path(job.run.root), job_name=job.name)
    run = RunDir(run_dir)
    resume_id = None
    if resume and run.tracking.is_file():
        resume_id = run.read(run.TRACKING).get("run_id")
    all_tags: dict[str, Any] = {
        "trainspec.spec_hash": loaded.hash,
        "trainspec.git_commit": _git_commit(run_dir),
        **tracked.tags,
    }
    run_id = tracker.start(
        run_name=tracked.run_name or run_dir.name,
        run_dir=run_dir,
        tags={k: str(v) for k, v in all_tags.items()},
        params={**spec_params(loaded.data), **tracked.params},
        parent_run_id=tracked.parent_run_id,
        resume_run_id=resume_id,
    )
    if run_id:
        run.write(run.TRACKING, {"backend": job.tracking.backend, "run_id": run_id})
    return tracker


def log_run_files(tracker: Tracker, run_dir: Path, *, enabled: bool) -> None:
    """The spec, splits, summary, metrics, best checkpoint and saved code, as the run's
    artifacts."""
    if not enabled:
        return
    run = RunDir(run_dir)
    for path in (run.config, run.environment, run.splits, run.summary, run.metrics):
        if path.is_file():
            tracker.log_artifact(path)
    if run.checkpoint("best").is_dir():
        tracker.log_artifact(run.checkpoint("best"), artifact_path=f"{run.CHECKPOINTS}/best")
    if run.code.is_dir():
        tracker.log_artifact(run.code, artifact_path=run.CODE)


def log_mlflow_model(tracker: Tracker, run_dir: Path, *, run_id: str | None = None) -> str | None:
    """Log a finished run's model as an MLflow pyfunc model (``runs:/<id>/model``) of the
    tracker's run, or of ``run_id`` in the tracker's store (a sweep's best trial).

    Only for the MLflow backend and a run with one model in ``model/`` (a cross-validation run
    has one per fold and none of its own, unless ``train.refit`` trained one: promote a fold's
    directory, or refit). Returns the model's URI, or None.
    """
    from trainspec.tracking import MlflowTracker

    run_id = run_id or tracker.run_id
    if not isinstance(tracker, MlflowTracker) or run_id is None:
        return None
    if not RunDir(run_dir).model.is_dir():
        return None
    from trainspec.inference import log_mlflow_model as log_model

    return log_model(run_dir, tracker.connect(), run_id)
