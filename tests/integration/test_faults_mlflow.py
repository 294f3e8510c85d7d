"""Fault battery, tracking: a run SIGKILLed between epochs loses the metrics its tracker still
held; reconciling the dead run and resuming it make the MLflow history equal metrics.jsonl.
The store is read with the plain MLflow client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.unit.experiments.sweep_support import digits_job

pytestmark = pytest.mark.integration


def _rows(run: Path) -> dict[str, list[tuple[int, float]]]:
    """metrics.jsonl as ``key -> [(epoch, value)]`` (a torn last line is not a row)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        for key, value in row.items():
            if key not in ("epoch", "step") and isinstance(value, float | int):
                out.setdefault(key, []).append((row["epoch"], float(value)))
    return out


def _history(client, run_id: str, keys: list[str]) -> dict[str, list[tuple[int, float]]]:  # type: ignore[no-untyped-def]
    return {
        k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in keys
    }


def _kill_after_epochs(cmd: list[str], run: Path, epochs: int) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    metrics = run / "metrics.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= epochs:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return
        time.sleep(0.01)
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"the run ended before it could be killed: {err.decode()[-2000:]}")


def test_sigkill_between_epochs_then_reconcile_and_resume_complete_mlflow(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from trainspec.spec import TrackingSpec
    from trainspec.tracking import reconcile_stale_runs

    spec = digits_job(tmp_path, tracking="mlflow", epochs=10)
    data = yaml.safe_load(spec.read_text())
    # Nothing reaches the store before the kill: all of it sits in the tracker's buffer.
    data["tracking"].update(flush_every=100_000, flush_seconds=3600)
    spec.write_text(yaml.safe_dump(data))
    run, root = tmp_path / "run", tmp_path / "runs"
    train = [sys.executable, "-m", "trainspec", "train", str(spec), "-q", "--run-dir", str(run)]
    _kill_after_epochs(train, run, epochs=3)

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    run_id = json.loads((run / "tracking.json").read_text())["run_id"]
    before = _rows(run)
    keys = sorted(before)
    assert client.get_run(run_id).info.status == "RUNNING"
    lost = _history(client, run_id, keys)
    assert all(len(lost[k]) < len(before[k]) for k in keys), lost  # the buffer was lost

    marked = reconcile_stale_runs(TrackingSpec.model_validate(data["tracking"]), root)
    assert marked == [run_id]
    assert client.get_run(run_id).info.status == "KILLED"
    assert _history(client, run_id, keys) == before

    # The resumed run logs to the same MLflow run (replaying its checkpoint's history, which
    # the store skips where it holds the epoch) and goes on to the end.
    res = subprocess.run(
        [*train, "--resume"], capture_output=True, text=True, timeout=600, env=os.environ
    )
    assert res.returncode == 0, res.stderr[-3000:]
    after = _rows(run)
    assert len(after["val/accuracy"]) == 10
    assert _history(client, run_id, sorted(after)) == after
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_resumed_fit_replays_its_history_to_the_tracker() -> None:
    """Where no reconcile ran (the run died on another host), the resumed run's tracker gets
    the checkpoint's history again; the store keeps the values it has (see the MLflow floors)."""
    from trainspec.engine import FitContext
    from trainspec.experiments._tracked import TrackerCallback

    logged: list[tuple[int, dict[str, float]]] = []

    class Recorder:
        run_id = "r1"

        def log_metrics(self, metrics: dict[str, float], *, step: int) -> None:
            logged.append((step, dict(metrics)))

    history = [
        {"epoch": 1, "step": 5, "train/loss": 0.9},
        {"epoch": 2, "step": 10, "val/loss": 0.5},
    ]
    callback = TrackerCallback(Recorder(), prefix="fold1/")  # type: ignore[arg-type]
    callback.on_fit_start(FitContext(None, True, 2, 5, 10, history, "r1"))
    assert logged == [(1, {"fold1/train/loss": 0.9}), (2, {"fold1/val/loss": 0.5})]
    logged.clear()
    callback.on_fit_start(FitContext(None, False, 0, 5, 0, [], "r1"))
    assert logged == []
