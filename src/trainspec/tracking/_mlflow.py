"""The MLflow backend: one MLflow run per trainspec run, written through ``MlflowClient``.

No fluent API and no active-run stack: the tracker holds its client and its run id.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.files import safe_name, safe_relpath
from trainspec.tracking._base import RunStatus, TrackerBase, TrackingError, check_status
from trainspec.tracking._buffer import MetricBuffer, MetricPoint
from trainspec.tracking._mlflow_store import connect, ensure_experiment, mlflow_errors
from trainspec.tracking._params import (
    MAX_PARAM_LENGTH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAG_LENGTH,
    chunked,
    clean_key,
    flatten_params,
    truncate,
)
from trainspec.tracking._process import host_name, process_alive, process_started
from trainspec.tracking._reconcile import reconcile_runs

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

__all__ = ["MlflowTracker"]

log = logging.getLogger(__name__)

# MLflow takes at most 1000 metric values in one log_batch call.
_MAX_METRICS_PER_BATCH = 1000

# (tracking URI, experiment, parent run) -> the experiment's id, for parents this process has
# checked: a sweep's trials are children of one parent, and each check (the experiment by
# name, the parent run) is two store round-trips a trial.
_CHILDREN_OF: dict[tuple[str, str, str | None], str] = {}


class MlflowTracker(TrackerBase):
    """Records a run in an MLflow store (SQLite file, database or tracking server).

    Parameters are only stored here; the store is opened by ``start`` (or ``connect``).

    Resume: ``start(resume_run_id=...)`` continues that run. Per metric, values at a step at
    or below the last step the store already holds are skipped, so a resumed job may replay
    the epochs since its last checkpoint without logging any value twice. Parameters the run
    already has keep their first value (MLflow parameters are immutable); keys whose value
    changed are listed in the ``trainspec.resume.changed_params`` tag.
    """

    def __init__(
        self,
        *,
        uri: str,
        experiment: str,
        artifact_location: str | None = None,
        log_params: bool = True,
        log_artifacts: bool = True,
        flush_every: int = 100,
        flush_seconds: float = 10.0,
        strict: bool = False,
        timeout: float = 5.0,
        max_param_length: int = MAX_PARAM_LENGTH,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.uri = uri
        self.experiment = experiment
        self.artifact_location = artifact_location
        self.log_params = log_params
        self.log_artifacts = log_artifacts
        self.strict = strict
        self.timeout = timeout
        self.max_param_length = max_param_length
        self.tags = dict(tags or {})
        self._buffer = MetricBuffer(flush_every=flush_every, flush_seconds=flush_seconds)
        self._client: MlflowClient | None = None
        # The run's tags as this tracker wrote them: a tag set again to the same value (a
        # sweep's best trial, after each trial that did not beat it) costs no round-trip.
        self._tags_written: dict[str, str] = {}

    def connect(self) -> MlflowClient:
        """Open the store (once): probes a server, creates an embedded SQLite store."""
        if self._client is None:
            self._client = connect(self.uri, timeout=self.timeout)
        return self._client

    # -- start -----------------------------------------------------------------------------

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
        client = self.connect()
        run_tags = self._start_tags(run_dir, tags, parent_run_id)
        flat = flatten_params(params, max_value_length=self.max_param_length)
        flat = flat if self.log_params else {}
        with mlflow_errors(self.uri, f"start run {run_name!r} in experiment {self.experiment!r}"):
            known = (self.uri, self.experiment, parent_run_id)
            new_run = None
            if resume_run_id is None and known in _CHILDREN_OF:
                try:  # another child of a parent this process checked (a sweep's next trial)
                    new_run = self._new_run(client, _CHILDREN_OF[known], run_name, run_tags)
                except Exception:  # the experiment or the parent changed since: check again
                    del _CHILDREN_OF[known]
            if new_run is not None:
                run_id = self._with_params(client, new_run, flat)
            else:
                experiment_id = ensure_experiment(client, self.experiment, self.artifact_location)
                if parent_run_id is None:
                    reconcile_runs(client, [experiment_id])
                else:
                    self._child_of(client, parent_run_id, experiment_id)
                    _CHILDREN_OF[known] = experiment_id
                if resume_run_id is not None:
                    run_id = self._resume(client, resume_run_id, run_tags, flat)
                else:
                    run_id = self._create(client, experiment_id, run_name, run_tags, flat)
        self._run_id = run_id
        self._tags_written = dict(run_tags)
        log.info(
            "MLflow run %s (%s) in experiment %r at %s", run_id, run_name, self.experiment, self.uri
        )
        return run_id

    def _start_tags(
        self, run_dir: Path, tags: Mapping[str, str], parent_run_id: str | None
    ) -> dict[str, str]:
        pid = os.getpid()
        system = {
            "trainspec.run_dir": str(Path(run_dir).resolve()),
            "trainspec.pid": str(pid),
            "trainspec.host": host_name(),
            "mlflow.user": _user(),
            "mlflow.source.type": "LOCAL",
        }
        started = process_started(pid)
        if started is not None:
            system["trainspec.pid_started"] = started
        if parent_run_id is not None:
            system["mlflow.parentRunId"] = parent_run_id
        merged = {**self.tags, **tags, **system}
        return {clean_key(k): truncate(str(v), MAX_TAG_LENGTH) for k, v in merged.items()}

    def _create(
        self,
        client: MlflowClient,
        experiment_id: str,
        run_name: str,
        tags: dict[str, str],
        params: dict[str, str],
    ) -> str:
        return self._with_params(
            client, self._new_run(client, experiment_id, run_name, tags), params
        )

    @staticmethod
    def _new_run(
        client: MlflowClient, experiment_id: str, run_name: str, tags: dict[str, str]
    ) -> str:
        return str(client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id)

    def _with_params(self, client: MlflowClient, run_id: str, params: dict[str, str]) -> str:
        try:
            self._write_params(client, run_id, params)
        except Exception:
            client.set_terminated(run_id, "FAILED")  # leave no RUNNING orphan behind
            raise
        return run_id

    def _child_of(self, client: MlflowClient, parent_run_id: str, experiment_id: str) -> None:
        """Check the parent exists. Its start already marked the stale runs of its experiment,
        so a child in the same one (a sweep's trial) skips that search, one query per trial."""
        parent = self._get_run(client, parent_run_id, "use as parent")
        if str(parent.info.experiment_id) != experiment_id:
            reconcile_runs(client, [experiment_id])

    def _get_run(self, client: MlflowClient, run_id: str, what: str) -> Run:
        try:
            return client.get_run(run_id)
        except Exception:
            raise TrackingError(
                f"cannot {what} MLflow run {run_id!r}: no such run in {self.uri}. Check the "
                "run id (a resumed job reads it from its checkpoint) and tracking.uri"
            ) from None

    def _resume(
        self, client: MlflowClient, run_id: str, tags: dict[str, str], params: dict[str, str]
    ) -> str:
        run = self._get_run(client, run_id, "resume")
        if run.info.lifecycle_stage == "deleted":
            raise TrackingError(
                f"cannot resume MLflow run {run_id}: it was deleted. Restore it "
                f"(`mlflow runs restore --run-id {run_id}`) or start a new run"
            )
        self._refuse_if_live(run)
        old = run.data.params
        changed = sorted(k for k, v in params.items() if k in old and old[k] != v)
        fresh = {k: v for k, v in params.items() if k not in old}
        tags["trainspec.resumed_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
        if changed:
            log.info(
                "resumed run %s keeps the first value of changed parameters: %s",
                run_id,
                ", ".join(changed),
            )
            tags["trainspec.resume.changed_params"] = truncate(", ".join(changed), MAX_TAG_LENGTH)
        client.update_run(run_id, status="RUNNING")
        self._write_tags(client, run_id, tags)
        self._write_params(client, run_id, fresh)
        self._buffer.set_floors({key: _last_step(client, run_id, key) for key in run.data.metrics})
        return run_id

    @staticmethod
    def _refuse_if_live(run: Run) -> None:
        tags = run.data.tags
        if run.info.status != "RUNNING" or tags.get("trainspec.host") != host_name():
            return
        try:
            pid = int(tags.get("trainspec.pid", ""))
        except ValueError:
            return
        if pid != os.getpid() and process_alive(pid, tags.get("trainspec.pid_started")):
            raise TrackingError(
                f"cannot resume MLflow run {run.info.run_id}: process {pid} on this host is "
                "still writing to it. Stop that process first, or start a new run"
            )

    # -- writes ----------------------------------------------------------------------------

    @staticmethod
    def _write_params(client: MlflowClient, run_id: str, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for chunk in chunked(items, MAX_PARAMS_PER_BATCH):
            client.log_batch(run_id, params=list(chunk))

    @staticmethod
    def _write_tags(client: MlflowClient, run_id: str, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, v) for k, v in tags.items()]
        for chunk in chunked(items, MAX_PARAMS_PER_BATCH):
            client.log_batch(run_id, tags=list(chunk))

    def _failed(self, what: str, exc: TrackingError) -> None:
        if self.strict:
            raise exc
        log.warning("tracking: could not %s (training goes on): %s", what, exc)

    def log_metrics(self, metrics: Mapping[str, float], *, step: int) -> None:
        self._require_active("log metrics")
        self._buffer.add(metrics, step=step)
        if self._buffer.due():
            self.flush()

    def flush(self) -> None:
        if self._run_id is None or not len(self._buffer):
            return
        from mlflow.entities import Metric

        client = self.connect()
        points = self._buffer.take()
        for start in range(0, len(points), _MAX_METRICS_PER_BATCH):
            chunk: list[MetricPoint] = points[start : start + _MAX_METRICS_PER_BATCH]
            try:
                with mlflow_errors(self.uri, f"write {len(chunk)} metric values"):
                    client.log_batch(
                        self._run_id,
                        metrics=[Metric(p.key, p.value, p.timestamp_ms, p.step) for p in chunk],
                    )
            except TrackingError as exc:
                self._buffer.put_back(points[start:])  # retried at the next flush
                self._failed("write metrics", exc)
                return
        self._buffer.written()

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        run_id = self._require_active("log an artifact")
        path = Path(path)
        if not path.exists():
            raise TrackingError(f"cannot log artifact {path}: no such file or directory")
        if not self.log_artifacts:
            log.debug("tracking.log_artifacts is off: %s not logged", path)
            return
        client = self.connect()
        # The artifact path becomes a folder of the artifact store (a local one included).
        where = safe_relpath(artifact_path, what="artifact path") if artifact_path else None
        try:
            with mlflow_errors(self.uri, f"store artifact {path}"):
                if path.is_dir():
                    # A directory keeps its own name: checkpoints/best -> best/...
                    name = safe_name(path.name, what="artifact name", fallback="artifact")
                    client.log_artifacts(run_id, str(path), where or name)
                else:
                    client.log_artifact(run_id, str(path), where or None)
        except TrackingError as exc:
            self._failed(f"store artifact {path}", exc)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        run_id = self._require_active("set tags")
        clean = {clean_key(k): truncate(str(v), MAX_TAG_LENGTH) for k, v in tags.items()}
        fresh = {k: v for k, v in clean.items() if self._tags_written.get(k) != v}
        if not fresh:
            return
        try:
            with mlflow_errors(self.uri, "set tags"):
                self._write_tags(self.connect(), run_id, fresh)
        except TrackingError as exc:
            self._failed("set tags", exc)
            return
        self._tags_written.update(fresh)

    def finish(self, status: RunStatus = "FINISHED") -> None:
        status = check_status(status)
        if self._finished:
            return
        run_id = self._require_active("finish")
        problem: TrackingError | None = None
        try:
            self.flush()
        except TrackingError as exc:
            problem = exc  # still set the status below
        self._finished = True
        try:
            with mlflow_errors(self.uri, f"mark run {run_id} {status}"):
                self.connect().set_terminated(run_id, status)
        except TrackingError as exc:
            problem = problem or exc
        if len(self._buffer):
            log.warning(
                "run %s ended with %d metric values never written", run_id, len(self._buffer)
            )
        if problem is not None:
            self._failed(f"finish run {run_id}", problem)


def _last_step(client: MlflowClient, run_id: str, key: str) -> int:
    history = client.get_metric_history(run_id, key)
    return max((m.step for m in history), default=-1)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
