"""Runs left RUNNING by a process that died (kill -9, power loss) are marked KILLED, and
completed from their run directory's metrics.jsonl."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.spec import TrackingSpec
from trainspec.tracking._backfill import backfill_mlflow
from trainspec.tracking._mlflow_store import connect, mlflow_errors, resolve_uri, search_all
from trainspec.tracking._process import host_name, process_alive

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["RECONCILED_TAG", "reconcile_runs", "reconcile_stale_runs"]

log = logging.getLogger(__name__)

RECONCILED_TAG = "trainspec.reconciled"


def reconcile_stale_runs(
    spec: TrackingSpec, runs_root: Path, *, experiment: str | None = None
) -> list[str]:
    """Mark KILLED every RUNNING run whose process, on this host, no longer lives.

    Only runs this host started are judged (their ``trainspec.host`` tag names it): a run on
    another machine cannot be checked from here. ``experiment`` (default: the spec's) limits the
    search; with neither, every experiment in the store is searched. Returns the ids marked.
    ``Tracker.start`` calls this for its own experiment. Other backends have nothing to mark.
    """
    if spec.backend != "mlflow":
        return []
    uri = resolve_uri(spec.uri, runs_root)
    client = connect(uri, timeout=spec.timeout)
    name = experiment or spec.experiment
    with mlflow_errors(uri, "look for runs left RUNNING"):
        if name is not None:
            found = client.get_experiment_by_name(name)
            ids = [] if found is None else [str(found.experiment_id)]
        else:
            ids = [
                str(e.experiment_id)
                for e in search_all(lambda token: client.search_experiments(page_token=token))
            ]
        return reconcile_runs(client, ids)


def reconcile_runs(client: MlflowClient, experiment_ids: Sequence[str]) -> list[str]:
    """``reconcile_stale_runs`` on an open client and known experiments."""
    if not experiment_ids:
        return []
    host = host_name()
    query = f"attributes.status = 'RUNNING' and tags.`trainspec.host` = '{_quote(host)}'"
    runs = search_all(
        lambda token: client.search_runs(list(experiment_ids), query, page_token=token)
    )
    marked = []
    for run in runs:
        if _owner_alive(run):
            continue
        run_id = run.info.run_id
        pid = run.data.tags.get("trainspec.pid", "?")
        when = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        note = (
            f"status set to KILLED at {when}: it was RUNNING but its process {pid} on {host} "
            "no longer ran"
        )
        added = _complete(client, run_id, run.data.tags.get("trainspec.run_dir"))
        if added:
            note += f"; {added} metric values it had not written were logged from metrics.jsonl"
        client.set_tag(run_id, RECONCILED_TAG, note)
        client.set_terminated(run_id, "KILLED")
        log.info("run %s: %s", run_id, note)
        marked.append(run_id)
    return marked


def _complete(client: MlflowClient, run_id: str, run_dir: str | None) -> int:
    """Values the dead process held in its buffer, from the run directory (when it is here)."""
    if not run_dir or not Path(run_dir).is_dir():
        return 0
    try:
        return backfill_mlflow(client, run_id, Path(run_dir))
    except (OSError, ValueError) as exc:
        log.warning("run %s: could not complete its metrics from %s: %s", run_id, run_dir, exc)
        return 0


def _owner_alive(run: Any) -> bool:
    tags = run.data.tags
    try:
        pid = int(tags.get("trainspec.pid", ""))
    except ValueError:
        return True  # not ours to judge
    return process_alive(pid, tags.get("trainspec.pid_started"))


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
