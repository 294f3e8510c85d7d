"""A sweep as the plain MLflow client sees it: the parent run holds the search space (not the
base spec's values of the searched keys) and the best trial; each trial is a child named after
the sweep and its number, with the values it drew and its final state; only the best trial
logs an MLflow model, with an input example of raw training rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.experiments.sweep_support import digits_job, ensure_sweep_field
from trainspec.experiments._sweep import run_sweep

pytestmark = pytest.mark.integration
ensure_sweep_field()


def _runs(uri: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_name: r for r in client.search_runs(experiments)}


def test_a_sweep_in_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from sklearn.datasets import load_digits

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # The grid in order: trial 0 completes; 1 and 3 name no optimizer; trial 2's learning
    # rate leaves it at chance after epoch 1, below trial 0's: the median pruner stops it.
    job = digits_job(
        tmp_path,
        tracking="mlflow",
        epochs=2,
        metric="val/accuracy",
        sampler="grid",
        pruner={"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
        params={
            "train.optimizer.lr": {"type": "categorical", "choices": [0.01, 1e-6]},
            "train.optimizer.name": {"type": "categorical", "choices": ["AdamW", "NoSuchOpt"]},
        },
    )
    result = run_sweep(str(job))
    assert result.counts == {"complete": 1, "fail": 2, "pruned": 1}
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    runs = _runs(uri)
    names = [f"digits-tiny-trial-{n:04d}" for n in range(4)]
    assert sorted(runs) == sorted(["sweep-digits-tiny", *names])

    parent = runs["sweep-digits-tiny"]
    params = parent.data.params
    assert params["space.train.optimizer.lr"] == "choice(0.01, 1e-06)"
    assert params["space.train.optimizer.name"] == 'choice("AdamW", "NoSuchOpt")'
    assert params["sweep.metric"] == "val/accuracy" and params["sweep.sampler.type"] == "grid"
    # The base spec's lr (0.002), which no trial used, is not a parameter of the sweep.
    assert "train.optimizer.lr" not in params and "train.optimizer.name" not in params
    assert not [k for k in params if k.startswith("sweep.params")]
    assert params["train.epochs"] == "2" and params["sweep.log_models"] == "best"
    tags = parent.data.tags
    best = runs[names[0]]
    assert tags["trainspec.best_trial"] == "0"
    assert tags["trainspec.best_run_id"] == best.info.run_id
    assert tags["best.train.optimizer.lr"] == "0.01"
    assert parent.data.metrics["best/val/accuracy"] == pytest.approx(
        best.data.metrics["val/accuracy"]
    )

    expected = [
        ("COMPLETE", "FINISHED", "0.01", "AdamW"),
        ("FAIL", "FAILED", "0.01", "NoSuchOpt"),
        ("PRUNED", "FINISHED", "1e-06", "AdamW"),
        ("FAIL", "FAILED", "1e-06", "NoSuchOpt"),
    ]
    for name, (state, status, lr, opt) in zip(names, expected, strict=True):
        run = runs[name]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["trainspec.trial_state"] == state, name
        assert run.info.status == status, name
        assert run.data.params["space.train.optimizer.lr"] == lr
        assert run.data.params["space.train.optimizer.name"] == opt
    assert "NoSuchOpt" in runs[names[1]].data.tags["trainspec.error"]
    assert runs[names[2]].data.params["train.optimizer.lr"] == "1e-06"  # what it trained with

    # Only the best trial has an MLflow model; it predicts raw rows and stores an example.
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    with_model = [
        n
        for n in names
        if any(f.path == "model" for f in client.list_artifacts(runs[n].info.run_id))
    ]
    assert with_model == [names[0]]
    # The store through the environment, restored after the test: mlflow.set_tracking_uri
    # would leave its URI in os.environ for every later test of this process.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    model_uri = f"runs:/{best.info.run_id}/model"
    info = mlflow.models.get_model_info(model_uri)
    assert info.saved_input_example_info is not None
    assert info.saved_input_example_info["type"] == "dataframe"
    model = mlflow.pyfunc.load_model(model_uri)
    example = model.input_example
    assert list(example.columns) == model.metadata.get_input_schema().input_names()
    # The example is the first training rows, raw (pixel counts 0..16, not standardised).
    splits = json.loads((tmp_path / "runs/sweeps/digits-tiny/trials/0000/splits.json").read_text())
    first = splits["folds"][0]["train"][:5]
    digits = load_digits(as_frame=True).data.iloc[first].reset_index(drop=True)
    assert example.to_numpy().tolist() == digits[list(example.columns)].to_numpy().tolist()
    predicted = model.predict(example)
    assert len(predicted) == 5 and "prediction" in predicted.columns
