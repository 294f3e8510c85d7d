"""The MLflow backend, read back with MLflow's own client: what a user sees in MLflow."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.tracking.conftest import MakeTracker
from trainspec.tracking import (
    RECONCILED_TAG,
    Tracker,
    TrackingError,
    TrackingSpec,
    create_tracker,
    reconcile_stale_runs,
)
from trainspec.tracking._process import host_name, process_started

SPEC_DATA = {
    "name": "digits",
    "model": {"blocks": [{"type": "linear", "out": 64}, {"type": "relu"}]},
    "train": {"optimizer": {"name": "AdamW", "lr": 0.001}, "epochs": 5},
}


def _start(tracker: Tracker, tmp_path: Path, **kwargs: Any) -> str:
    kwargs.setdefault("params", SPEC_DATA)
    return tracker.start(
        run_name="digits",
        run_dir=tmp_path / "run",
        tags={"trainspec.spec_hash": "cafe1234", "trainspec.git_commit": "abc123"},
        **kwargs,
    )


@pytest.fixture
def batch_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, int]]:
    """Every MlflowClient.log_batch call, as counts of what it wrote."""
    from mlflow.tracking import MlflowClient

    calls: list[dict[str, int]] = []
    original = MlflowClient.log_batch

    def spy(
        self: Any, run_id: str, metrics: Any = (), params: Any = (), tags: Any = (), **kwargs: Any
    ) -> Any:
        calls.append({"metrics": len(metrics), "params": len(params), "tags": len(tags)})
        return original(self, run_id, metrics=metrics, params=params, tags=tags, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", spy)
    return calls


def test_mlflow_search_runs_sees_params_metrics_tags_artifacts_and_status(
    make_mlflow: MakeTracker,
    experiment: str,
    runs_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client: Any,
) -> None:
    import mlflow

    tracker = make_mlflow(tags={"team": "ecg"})
    run_id = _start(tracker, tmp_path)
    for epoch in range(4):
        tracker.log_metrics({"train/loss": 1.0 / (epoch + 1), "val/acc": 0.2 * epoch}, step=epoch)
    (tmp_path / "config.yaml").write_text("name: digits\n")
    tracker.log_artifact(tmp_path / "config.yaml")
    tracker.finish()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///" + str(runs_root / "mlflow.db"))
    frame = mlflow.search_runs(experiment_names=[experiment])
    row = frame.iloc[0]
    assert len(frame) == 1 and row["run_id"] == run_id and row["status"] == "FINISHED"
    assert row["params.train.optimizer.lr"] == "0.001"
    assert row["params.model.blocks.0.out"] == "64"
    assert row["metrics.train/loss"] == pytest.approx(0.25)  # the last step's value
    assert row["tags.trainspec.spec_hash"] == "cafe1234"
    assert row["tags.trainspec.git_commit"] == "abc123"
    assert row["tags.team"] == "ecg"
    assert row["tags.trainspec.pid"] == str(os.getpid())
    assert row["tags.trainspec.host"] == host_name()
    assert row["tags.trainspec.run_dir"] == str((tmp_path / "run").resolve())
    assert row["tags.mlflow.runName"] == "digits"
    history = client.get_metric_history(run_id, "val/acc")
    assert [(m.step, m.value) for m in history] == [
        (0, 0.0),
        (1, 0.2),
        (2, 0.4),
        (3, 0.6000000000000001),
    ]
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.yaml"]
    artifact_root = (runs_root / "mlartifacts").as_uri()
    assert client.get_run(run_id).info.artifact_uri.startswith(artifact_root)


def test_metrics_are_written_in_batches_not_one_call_per_value(
    make_mlflow: MakeTracker, tmp_path: Path, batch_calls: list[dict[str, int]], client: Any
) -> None:
    tracker = make_mlflow(flush_every=20, flush_seconds=3600)
    run_id = _start(tracker, tmp_path)
    batch_calls.clear()
    for step in range(10):
        tracker.log_metrics({f"m{i}": float(step) for i in range(5)}, step=step)  # 50 values
    tracker.finish()
    assert [c["metrics"] for c in batch_calls if c["metrics"]] == [20, 20, 10]
    assert [m.step for m in client.get_metric_history(run_id, "m4")] == list(range(10))


def test_many_and_long_params_fit_mlflow_limits(
    make_mlflow: MakeTracker, tmp_path: Path, batch_calls: list[dict[str, int]], client: Any
) -> None:
    params = {f"p{i:03d}": i for i in range(250)} | {"notes": "x" * 7000}
    run_id = _start(make_mlflow(), tmp_path, params=params)
    assert [c["params"] for c in batch_calls if c["params"]] == [100, 100, 51]
    stored = client.get_run(run_id).data.params
    assert len(stored) == 251 and stored["p249"] == "249"
    assert len(stored["notes"]) == 6000 and stored["notes"].endswith("...[truncated 1025 chars]")


def test_a_child_run_names_its_parent(
    make_mlflow: MakeTracker, tmp_path: Path, client: Any
) -> None:
    with make_mlflow() as parent:
        parent_id = _start(parent, tmp_path)
        child_ids = []
        for trial in range(2):
            with make_mlflow() as child:
                child_ids.append(_start(child, tmp_path / f"t{trial}", parent_run_id=parent_id))
    experiment_id = client.get_run(parent_id).info.experiment_id
    found = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    assert sorted(r.info.run_id for r in found) == sorted(child_ids)
    with pytest.raises(TrackingError, match="cannot use as parent MLflow run 'nope'"):
        _start(make_mlflow(), tmp_path, parent_run_id="nope")


def test_later_children_skip_the_parent_check_until_the_experiment_changes(
    make_mlflow: MakeTracker, tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep's next trials do not look up the experiment and the parent again; when the
    experiment was deleted since, the child restores it as the first one would."""
    with make_mlflow() as parent:
        parent_id = _start(parent, tmp_path)
    with make_mlflow() as child:
        _start(child, tmp_path / "t0", parent_run_id=parent_id)
    lookups: list[str] = []
    real = type(client).get_run
    monkeypatch.setattr(
        type(client), "get_run", lambda self, run_id: lookups.append(run_id) or real(self, run_id)
    )
    with make_mlflow() as child:
        second = _start(child, tmp_path / "t1", parent_run_id=parent_id)
    assert lookups == []
    experiment_id = client.get_run(parent_id).info.experiment_id
    client.delete_experiment(experiment_id)
    lookups.clear()
    with make_mlflow() as child:
        third = _start(child, tmp_path / "t2", parent_run_id=parent_id)
    assert lookups == [parent_id]  # checked again
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    for run_id in (second, third):
        assert client.get_run(run_id).data.tags["mlflow.parentRunId"] == parent_id


def test_resume_skips_steps_already_stored_and_keeps_first_params(
    make_mlflow: MakeTracker, tmp_path: Path, client: Any
) -> None:
    first = make_mlflow()
    run_id = _start(first, tmp_path)
    for epoch in range(5):
        first.log_metrics({"loss": float(epoch)}, step=epoch)
    first.flush()
    first.finish("KILLED")

    again = make_mlflow()
    spec = {**SPEC_DATA, "train": {"optimizer": {"name": "AdamW", "lr": 0.01}, "epochs": 8}}
    assert _start(again, tmp_path, params=spec, resume_run_id=run_id) == run_id
    assert client.get_run(run_id).info.status == "RUNNING"
    for epoch in range(3, 8):  # replays epochs 3 and 4 from the last checkpoint
        again.log_metrics({"loss": float(epoch), "lr": 0.01}, step=epoch)
    again.finish()

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == list(range(8))
    assert [m.step for m in client.get_metric_history(run_id, "lr")] == [3, 4, 5, 6, 7]
    assert run.data.params["train.optimizer.lr"] == "0.001"
    assert run.data.tags["trainspec.resume.changed_params"] == "train.epochs, train.optimizer.lr"


def test_resume_of_an_unknown_run_says_so(make_mlflow: MakeTracker, tmp_path: Path) -> None:
    with pytest.raises(TrackingError, match="cannot resume MLflow run 'f00d': no such run"):
        _start(make_mlflow(), tmp_path, resume_run_id="f00d")


def _running_run(client: Any, experiment: str, **tags: str) -> str:
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    return str(client.create_run(experiment_id, tags=tags).info.run_id)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_runs_of_dead_processes_are_reconciled_to_killed(
    client: Any, experiment: str, runs_root: Path
) -> None:
    here, me = host_name(), os.getpid()
    dead = _running_run(
        client, experiment, **{"trainspec.host": here, "trainspec.pid": str(_dead_pid())}
    )
    alive = _running_run(client, experiment, **{"trainspec.host": here, "trainspec.pid": str(me)})
    elsewhere = _running_run(
        client, experiment, **{"trainspec.host": "other-host", "trainspec.pid": str(_dead_pid())}
    )
    reused = _running_run(
        client,
        experiment,
        **{"trainspec.host": here, "trainspec.pid": str(me), "trainspec.pid_started": "1"},
    )
    assert process_started(me) != "1"

    spec = TrackingSpec(experiment=experiment)
    assert sorted(reconcile_stale_runs(spec, runs_root)) == sorted([dead, reused])
    status = {r: client.get_run(r).info.status for r in (dead, alive, elsewhere, reused)}
    assert status == {dead: "KILLED", alive: "RUNNING", elsewhere: "RUNNING", reused: "KILLED"}
    assert "no longer ran" in client.get_run(dead).data.tags[RECONCILED_TAG]
    assert RECONCILED_TAG not in client.get_run(alive).data.tags
    assert reconcile_stale_runs(spec, runs_root) == []


def test_start_reconciles_its_experiment(
    make_mlflow: MakeTracker, client: Any, experiment: str, tmp_path: Path
) -> None:
    stale = _running_run(
        client, experiment, **{"trainspec.host": host_name(), "trainspec.pid": str(_dead_pid())}
    )
    with make_mlflow() as tracker:
        _start(tracker, tmp_path)
    assert client.get_run(stale).info.status == "KILLED"


def test_a_child_run_reconciles_only_an_experiment_its_parent_did_not(
    make_mlflow: MakeTracker, client: Any, experiment: str, tmp_path: Path
) -> None:
    dead = {"trainspec.host": host_name(), "trainspec.pid": str(_dead_pid())}
    with make_mlflow() as parent:
        parent_id = _start(parent, tmp_path)
        # Left by a process that died after the parent started: a sweep's trial in the same
        # experiment leaves it to the next run that is nobody's child.
        same = _running_run(client, experiment, **dead)
        other = _running_run(client, experiment + "-other", **dead)
        with make_mlflow() as child:
            _start(child, tmp_path, parent_run_id=parent_id)
        with make_mlflow(experiment=experiment + "-other") as child:
            _start(child, tmp_path, parent_run_id=parent_id)
    assert client.get_run(same).info.status == "RUNNING"
    assert client.get_run(other).info.status == "KILLED"
    with make_mlflow() as later:
        _start(later, tmp_path)
    assert client.get_run(same).info.status == "KILLED"


def test_set_tags_writes_only_values_that_changed(
    make_mlflow: MakeTracker, client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    writes: list[dict[str, str]] = []
    with make_mlflow() as tracker:
        run_id = _start(tracker, tmp_path)
        store = tracker.connect()  # type: ignore[attr-defined]
        log_batch = store.log_batch

        def spy(run: str, **kwargs: Any) -> None:
            writes.append({t.key: t.value for t in kwargs.get("tags", [])})
            log_batch(run, **kwargs)

        monkeypatch.setattr(store, "log_batch", spy)
        tracker.set_tags({"best": "1", "trainspec.spec_hash": "cafe1234"})
        tracker.set_tags({"best": "1"})
        tracker.set_tags({"best": "3", "other": "x"})
        tracker.set_tags({"best": "3"})
    assert writes == [{"best": "1"}, {"best": "3", "other": "x"}]
    tags = client.get_run(run_id).data.tags
    assert (tags["best"], tags["other"], tags["trainspec.spec_hash"]) == ("3", "x", "cafe1234")


def test_resume_refuses_a_run_another_live_process_writes(
    make_mlflow: MakeTracker, client: Any, experiment: str, tmp_path: Path
) -> None:
    parent = os.getppid()
    busy = _running_run(
        client, experiment, **{"trainspec.host": host_name(), "trainspec.pid": str(parent)}
    )
    with pytest.raises(TrackingError, match=f"process {parent} on this host is still writing"):
        _start(make_mlflow(), tmp_path, resume_run_id=busy)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_fails_fast_and_clearly(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{_free_port()}"
    tracker = create_tracker(TrackingSpec(uri=uri, timeout=2), runs_root=tmp_path)
    began = time.monotonic()
    with pytest.raises(TrackingError, match=f"cannot reach the MLflow tracking server at {uri}"):
        _start(tracker, tmp_path)
    assert time.monotonic() - began < 5
    assert tracker.run_id is None


def _failing_once(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    from mlflow.tracking import MlflowClient

    original = MlflowClient.log_batch
    failures = {"left": 1, "seen": 0}

    def flaky(self: Any, run_id: str, metrics: Any = (), **kwargs: Any) -> Any:
        if metrics and failures["left"]:
            failures["left"] -= 1
            failures["seen"] += 1
            raise OSError("database is locked")
        return original(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", flaky)
    return lambda: failures["seen"]


def test_a_failed_write_warns_and_is_retried(
    make_mlflow: MakeTracker,
    tmp_path: Path,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = make_mlflow(flush_every=2)
    run_id = _start(tracker, tmp_path)
    seen = _failing_once(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="trainspec.tracking"):
        tracker.log_metrics({"a": 1.0, "b": 2.0}, step=0)  # this write fails
    assert seen() == 1 and "database is locked" in caplog.text
    tracker.log_metrics({"a": 3.0, "b": 4.0}, step=1)
    tracker.finish()
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "a")] == [
        (0, 1.0),
        (1, 3.0),
    ]


def test_strict_mode_raises_on_a_failed_write(
    make_mlflow: MakeTracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = make_mlflow(flush_every=1, strict=True)
    _start(tracker, tmp_path)
    _failing_once(monkeypatch)
    with pytest.raises(TrackingError, match=r"could not write 1 metric values.*database is locked"):
        tracker.log_metrics({"a": 1.0}, step=0)


def test_log_artifacts_off_stores_no_files(
    make_mlflow: MakeTracker, tmp_path: Path, client: Any
) -> None:
    (tmp_path / "summary.json").write_text("{}")
    with make_mlflow(log_artifacts=False, log_params=False) as tracker:
        run_id = _start(tracker, tmp_path)
        tracker.log_artifact(tmp_path / "summary.json")
    assert client.list_artifacts(run_id) == []
    assert client.get_run(run_id).data.params == {}
