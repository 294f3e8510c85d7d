"""Tracking: where a run's parameters, metrics, tags, files and final status are recorded.

``create_tracker(spec.tracking, runs_root=...)`` gives a ``Tracker``: MLflow (an embedded SQLite
store under the runs root by default, or a server), none, or wandb offline. ``mlflow`` and
``wandb`` are imported only when a run starts.
"""

from trainspec.spec import TrackingSpec
from trainspec.tracking._base import (
    RUN_STATUSES,
    TRIAL_STATE_TAG,
    RunStatus,
    StopRun,
    Tracker,
    TrackerBase,
    TrackingError,
)
from trainspec.tracking._factory import DEFAULT_EXPERIMENT, create_tracker
from trainspec.tracking._mlflow import MlflowTracker
from trainspec.tracking._mlflow_store import resolve_uri
from trainspec.tracking._none import NullTracker
from trainspec.tracking._params import flatten_params, spec_params
from trainspec.tracking._process import host_name, process_alive, process_started
from trainspec.tracking._reconcile import RECONCILED_TAG, reconcile_stale_runs
from trainspec.tracking._wandb import WandbTracker

__all__ = [
    "DEFAULT_EXPERIMENT",
    "RECONCILED_TAG",
    "RUN_STATUSES",
    "TRIAL_STATE_TAG",
    "MlflowTracker",
    "NullTracker",
    "RunStatus",
    "StopRun",
    "Tracker",
    "TrackerBase",
    "TrackingError",
    "TrackingSpec",
    "WandbTracker",
    "create_tracker",
    "flatten_params",
    "host_name",
    "process_alive",
    "process_started",
    "reconcile_stale_runs",
    "resolve_uri",
    "spec_params",
]
