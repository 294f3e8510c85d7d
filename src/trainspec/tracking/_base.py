"""The Tracker contract: one run's parameters, metrics, tags, files and final status.

Every backend (MLflow, none, wandb) meets this contract; ``tests/unit/tracking`` runs one
contract suite over all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, runtime_checkable

from trainspec.errors import TrainspecError

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "RUN_STATUSES",
    "TRIAL_STATE_TAG",
    "RunStatus",
    "StopRun",
    "Tracker",
    "TrackerBase",
    "TrackingError",
]

log = logging.getLogger(__name__)

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)

# A sweep trial's state: RUNNING from its start, then COMPLETE, PRUNED or FAIL.
TRIAL_STATE_TAG = "trainspec.trial_state"

# Longest error text kept in the ``trainspec.error`` tag of a failed run.
_ERROR_TAG_LENGTH = 1000


class TrackingError(TrainspecError):
    """A tracking store that cannot be reached or refuses a write, or a tracker misused."""


class StopRun(Exception):
    """Raised through a tracked run (``with tracker:``) to end it on purpose, not as a failure:
    the run ends with ``status`` after ``tags`` are set (a sweep's pruned trial ends FINISHED
    with ``trainspec.trial_state`` PRUNED). Set before the run ends, as some backends (wandb
    offline) cannot change a run once it has ended."""

    def __init__(
        self, message: str, *, tags: Mapping[str, str], status: RunStatus = "FINISHED"
    ) -> None:
        super().__init__(message)
        self.tags = dict(tags)
        self.status = status


@runtime_checkable
class Tracker(Protocol):
    """Records one run. Call ``start`` once, log, then ``finish`` once.

    Metrics are buffered and written in batches (a write per value would cost milliseconds
    each); ``flush`` writes what is buffered, and ``finish`` flushes before it sets the status.
    Used as a context manager, a started run is finished on leaving the block: FINISHED, FAILED
    on an exception, KILLED on KeyboardInterrupt or SystemExit.
    """

    @property
    def run_id(self) -> str | None:
        """The run's id once started, else None."""
        ...

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
        """Start (or, with ``resume_run_id``, continue) a run; returns its id."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        """Buffer metric values at ``step``; written in batches."""
        ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Copy a file or a directory into the run's artifacts."""
        ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    def flush(self) -> None:
        """Write every buffered metric now."""
        ...

    def finish(self, status: RunStatus = "FINISHED") -> None:
        """Flush and end the run with ``status``. A second call does nothing."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def check_status(status: str) -> RunStatus:
    if status not in RUN_STATUSES:
        raise TrackingError(
            f"a run ends with status {', '.join(RUN_STATUSES)}; got {status!r}: pass one of those"
        )
    return status  # type: ignore[return-value]


class TrackerBase:
    """What every backend shares: run state checks and the context-manager protocol."""

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._finished = False

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def active(self) -> bool:
        """True between ``start`` and ``finish``."""
        return self._run_id is not None and not self._finished

    def _require_active(self, what: str) -> str:
        if self._run_id is None:
            raise TrackingError(f"cannot {what}: the tracker has no run yet; call start() first")
        if self._finished:
            raise TrackingError(
                f"cannot {what}: run {self._run_id} is already finished; start a new tracker"
            )
        return self._run_id

    def _require_unstarted(self) -> None:
        if self._run_id is not None:
            raise TrackingError(
                f"this tracker already started run {self._run_id}: a tracker records one run, "
                "create another with create_tracker() for the next"
            )

    def set_tags(self, tags: Mapping[str, str]) -> None:  # overridden by backends
        raise NotImplementedError

    def finish(self, status: RunStatus = "FINISHED") -> None:  # overridden by backends
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.active:
            return
        if exc is None:
            self.finish("FINISHED")
            return
        if isinstance(exc, StopRun):
            self._stop(exc)
            return
        # Never let a tracking problem hide the exception that ended the run.
        status: RunStatus = "FAILED" if isinstance(exc, Exception) else "KILLED"
        try:
            text = f"{type(exc).__name__}: {exc}"
            self.set_tags({"trainspec.error": text[:_ERROR_TAG_LENGTH]})
            self.finish(status)
        except Exception as problem:
            log.warning("could not mark run %s as %s: %s", self._run_id, status, problem)

    def _stop(self, stop: StopRun) -> None:
        try:
            self.set_tags(stop.tags)
            self.finish(stop.status)
        except Exception as problem:
            log.warning("could not mark run %s as %s: %s", self._run_id, stop.status, problem)
