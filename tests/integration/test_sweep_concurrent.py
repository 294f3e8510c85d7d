"""Three ``trainspec sweep`` processes started at once on one study (the default SQLite file):
each trial draws from its own sampler stream, so no two complete trials share parameters, and
the processes share one parent MLflow run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.experiments.sweep_support import digits_job

pytestmark = pytest.mark.integration

N_TRIALS = 6


def test_three_processes_on_one_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    import optuna
    from optuna.trial import TrialState

    digits_job(
        tmp_path,
        tracking="mlflow",
        epochs=60,  # trials long enough that the later processes start before the work is done
        metric="val/accuracy",
        direction="maximize",
        n_trials=N_TRIALS,
        sampler={"type": "tpe", "seed": 11, "n_startup_trials": 10},
        pruner="none",
        params={
            # a space large enough that equal draws would mean equal streams
            "train.optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "model.layers[0].out_features": {"type": "int", "low": 4, "high": 64},
        },
    )
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "trainspec", "sweep", "job.yaml"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]

    storage = "sqlite:///" + str(tmp_path / "runs" / "sweeps" / "digits-tiny" / "study.db")
    study = optuna.load_study(study_name="digits-tiny", storage=storage)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(complete) == N_TRIALS
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == N_TRIALS
    workers = {t.user_attrs["trainspec.owner"]["pid"] for t in complete}
    assert len(workers) >= 2  # the processes did share the work

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///" + str(tmp_path / "runs" / "mlflow.db"))
    runs = mlflow.search_runs(experiment_names=["digits-tiny"], output_format="pandas")
    parents = runs[runs["tags.trainspec.kind"] == "sweep"]
    assert len(parents) == 1, parents[["run_id", "status"]]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert set(children["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert len(children) >= N_TRIALS
