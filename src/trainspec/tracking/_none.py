"""The none backend: records nothing and costs nothing, for quick runs and tests."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainspec.tracking._base import RunStatus, TrackerBase, TrackingError, check_status
from trainspec.tracking._buffer import as_float, check_step

__all__ = ["NullTracker"]


class NullTracker(TrackerBase):
    """Keeps the Tracker contract (ids, states, argument checks) and writes nothing."""

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
        self._run_id = resume_run_id or uuid.uuid4().hex
        return self._run_id

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        self._require_active("log metrics")
        check_step(step)  # the same checks as a real backend, so switching hides no bug
        for key, value in metrics.items():
            as_float(key, value)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._require_active("log an artifact")
        if not Path(path).exists():
            raise TrackingError(f"cannot log artifact {path}: no such file or directory")

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._require_active("set tags")

    def flush(self) -> None:
        return None

    def finish(self, status: RunStatus = "FINISHED") -> None:
        check_status(status)
        if not self._finished:
            self._require_active("finish")
            self._finished = True
