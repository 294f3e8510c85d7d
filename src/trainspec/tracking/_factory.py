"""``create_tracker``: a Tracker from the ``tracking:`` section of a job spec."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from trainspec.spec import TrackingSpec
from trainspec.tracking._base import Tracker
from trainspec.tracking._mlflow import MlflowTracker
from trainspec.tracking._mlflow_store import default_artifact_location, resolve_uri
from trainspec.tracking._none import NullTracker
from trainspec.tracking._wandb import WandbTracker, require_wandb

__all__ = ["DEFAULT_EXPERIMENT", "create_tracker"]

DEFAULT_EXPERIMENT = "trainspec"

log = logging.getLogger(__name__)


def _mlflow_installed() -> bool:
    return importlib.util.find_spec("mlflow") is not None


def create_tracker(
    spec: TrackingSpec | None = None,
    *,
    runs_root: Path | str = "runs",
    job_name: str | None = None,
) -> Tracker:
    """The tracker ``spec`` asks for; nothing is opened or written until ``start``.

    ``runs_root`` holds the embedded MLflow store (``mlflow.db``, ``mlartifacts/``) when no
    tracking URI is set. The experiment is ``spec.experiment``, else ``job_name``, else
    ``"trainspec"``. A wandb backend without the wandb package fails here, with the install
    command. The default backend (MLflow, not named in the spec) falls back to recording in the
    run directory only when MLflow is not installed (the bare ``pip install trainspec``).
    """
    spec = spec if spec is not None else TrackingSpec()
    root = Path(runs_root)
    experiment = spec.experiment or job_name or DEFAULT_EXPERIMENT
    if spec.backend == "none":
        return NullTracker()
    if (
        spec.backend == "mlflow"
        and "backend" not in spec.model_fields_set
        and not (_mlflow_installed())
    ):
        # The default install has no MLflow: the run directory still records everything, and
        # a spec that asks for MLflow by name still fails with the install command.
        log.warning(
            "MLflow is not installed: this run is recorded in its run directory only "
            "(pip install 'trainspec[tracking]' to track runs in MLflow)"
        )
        return NullTracker()
    if spec.backend == "wandb":
        require_wandb()
        return WandbTracker(
            project=experiment,
            mode=spec.mode or "offline",
            log_params=spec.log_params,
            log_artifacts=spec.log_artifacts,
            flush_every=spec.flush_every,
            flush_seconds=spec.flush_seconds,
            tags=spec.tags,
        )
    uri = resolve_uri(spec.uri, root)
    return MlflowTracker(
        uri=uri,
        experiment=experiment,
        artifact_location=spec.artifact_location or default_artifact_location(uri, experiment),
        log_params=spec.log_params,
        log_artifacts=spec.log_artifacts,
        flush_every=spec.flush_every,
        flush_seconds=spec.flush_seconds,
        strict=spec.strict,
        timeout=spec.timeout,
        max_param_length=spec.max_param_length,
        tags=spec.tags,
    )
