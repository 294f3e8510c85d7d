"""The Weights & Biases backend, offline: runs are written under the run directory and can be
uploaded later with ``wandb sync``. An optional extra: ``wandb`` is imported lazily.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainspec.files import safe_relpath
from trainspec.tracking._base import (
    TRIAL_STATE_TAG,
    RunStatus,
    TrackerBase,
    TrackingError,
    check_status,
)
from trainspec.tracking._buffer import MetricBuffer
from trainspec.tracking._params import flatten_params
from trainspec.tracking._process import host_name

__all__ = ["WandbTracker", "require_wandb"]

log = logging.getLogger(__name__)

INSTALL = "pip install 'wandb>=0.19'"


def require_wandb() -> None:
    """Fail now, with the install command, when wandb is not installed."""
    if importlib.util.find_spec("wandb") is None:
        raise TrackingError(
            f"tracking.backend is 'wandb' but the wandb package is not installed: {INSTALL} "
            "(or use backend: mlflow or none)"
        )


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


_TRIAL_STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL")


def _job_type(tags: Mapping[str, str]) -> str | None:
    if TRIAL_STATE_TAG in tags:
        return "trial"
    return "sweep" if tags.get("trainspec.kind") == "sweep" else None


def _import_wandb() -> Any:
    require_wandb()
    return importlib.import_module("wandb")


class WandbTracker(TrackerBase):
    """Records a run with wandb (offline by default); tags go into the run's config under ``tags.``.

    wandb has no nested runs: a sweep's parent run and its trials share the sweep's name as
    their wandb ``group`` (job types ``sweep`` and ``trial``), and a child run keeps its
    parent's id in ``tags.trainspec.parent_run_id``. A trial's final state (COMPLETE, PRUNED,
    FAIL) is set as it finishes, in the summary, the config and the run's wandb tags: an offline
    run cannot be changed after ``finish``. Resume continues the wandb run id; values at steps
    at or below the last step logged in this process are skipped by wandb.
    """

    def __init__(
        self,
        *,
        project: str,
        mode: str = "offline",
        log_params: bool = True,
        log_artifacts: bool = True,
        flush_every: int = 100,
        flush_seconds: float = 10.0,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.mode = mode
        self.log_params = log_params
        self.log_artifacts = log_artifacts
        self.tags = dict(tags or {})
        self._buffer = MetricBuffer(flush_every=flush_every, flush_seconds=flush_seconds)
        self._run: Any = None
        self._trial_state: str | None = None  # a sweep trial's state, None for other runs

    def start(
        self,
        *,
        run_name: str,
        run_dir: Path,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        parent_run_id: str | None = None,
        resume_run_id: str | None = None,
    ) -> str:
        self._require_unstarted()
        wandb = _import_wandb()
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = dict(flatten_params(params)) if self.log_params else {}
        own = {
            "trainspec.run_dir": str(run_dir.resolve()),
            "trainspec.pid": str(os.getpid()),
            "trainspec.host": host_name(),
        }
        if parent_run_id:
            own["trainspec.parent_run_id"] = parent_run_id
        config.update(self._tag_config({**self.tags, **tags, **own}))
        self._trial_state = tags.get(TRIAL_STATE_TAG)
        try:
            self._run = wandb.init(
                project=self.project,
                name=run_name,
                dir=str(run_dir),
                mode=self.mode,
                config=config,
                id=resume_run_id,
                resume="allow" if resume_run_id else None,
                group=tags.get("trainspec.sweep") or parent_run_id,
                job_type=_job_type(tags),
                reinit="create_new",
            )
        except Exception as exc:
            raise TrackingError(f"wandb could not start run {run_name!r}: {exc}") from exc
        self._run_id = str(self._run.id)
        return self._run_id

    @staticmethod
    def _tag_config(tags: Mapping[str, str]) -> dict[str, str]:
        return {f"tags.{_safe(k)}": str(v) for k, v in tags.items()}

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        self._require_active("log metrics")
        self._buffer.add(metrics, step=step)
        if self._buffer.due():
            self.flush()

    def flush(self) -> None:
        if self._run is None or not len(self._buffer):
            return
        by_step: dict[int, dict[str, float]] = defaultdict(dict)
        for point in self._buffer.take():
            by_step[point.step][point.key] = point.value
        for step in sorted(by_step):
            self._run.log(by_step[step], step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._require_active("log an artifact")
        path = Path(path)
        if not path.exists():
            raise TrackingError(f"cannot log artifact {path}: no such file or directory")
        if not self.log_artifacts:
            return
        wandb = _import_wandb()
        if artifact_path:
            artifact_path = safe_relpath(artifact_path, what="artifact path") or None
        name = _safe(artifact_path or path.name)
        artifact = wandb.Artifact(name=f"{self._run_id}-{name}", type="trainspec")
        if path.is_dir():
            artifact.add_dir(str(path), name=artifact_path)
        else:
            artifact.add_file(
                str(path), name=f"{artifact_path}/{path.name}" if artifact_path else None
            )
        self._run.log_artifact(artifact)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._require_active("set tags")
        if self._trial_state is not None:
            self._trial_state = tags.get(TRIAL_STATE_TAG, self._trial_state)
        self._run.config.update(self._tag_config(tags), allow_val_change=True)

    def _end_trial(self, status: RunStatus) -> None:
        """A trial still RUNNING ends COMPLETE when its run finished, FAIL otherwise (a
        pruned trial was set PRUNED before, by ``StopRun``)."""
        state = self._trial_state
        if state is None:
            return
        if state == "RUNNING":
            state = "COMPLETE" if status == "FINISHED" else "FAIL"
        self._run.config.update(self._tag_config({TRIAL_STATE_TAG: state}), allow_val_change=True)
        self._run.summary[TRIAL_STATE_TAG] = state
        self._run.tags = (*(t for t in self._run.tags if t not in _TRIAL_STATES), state)

    def finish(self, status: RunStatus = "FINISHED") -> None:
        status = check_status(status)
        if self._finished:
            return
        self._require_active("finish")
        self.flush()
        self._finished = True
        self._end_trial(status)
        self._run.summary["trainspec.status"] = status
        self._run.finish(exit_code=0 if status == "FINISHED" else 1)
