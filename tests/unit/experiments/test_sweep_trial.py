"""A trial's objective values, the pruning callback, and a pruned trial's run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.unit.experiments.sweep_support import digits_job
from trainspec.errors import TrainspecError
from trainspec.experiments import RunResult
from trainspec.experiments._sweep_plan import Goal, plan_sweep
from trainspec.experiments._sweep_trial import PruneCallback, objective_values, run_trial

ACC_MAX = Goal("val/accuracy", "maximize")
LOSS_MIN = Goal("val/loss", "minimize")


def _history(*accs: float) -> list[dict[str, Any]]:
    return [{"epoch": i + 1, "val/accuracy": a, "val/loss": 1 - a} for i, a in enumerate(accs)]


def test_best_and_final_values() -> None:
    result = RunResult(Path("r"), "h", "finished", {}, history=_history(0.5, 0.9, 0.7))
    assert objective_values(result, [ACC_MAX, LOSS_MIN], "best") == [0.9, pytest.approx(0.1)]
    assert objective_values(result, [ACC_MAX], "final") == [0.7]


def test_cross_validation_optimises_the_mean_over_folds() -> None:
    folds = [{"history": _history(0.5, 0.8)}, {"history": _history(0.6, 0.4)}]
    result = RunResult(Path("r"), "h", "finished", {}, folds=folds)
    assert objective_values(result, [ACC_MAX], "best") == [pytest.approx(0.7)]
    assert objective_values(result, [ACC_MAX], "final") == [pytest.approx(0.6)]


def test_test_split_values() -> None:
    single = RunResult(Path("r"), "h", "finished", {"test": {"accuracy": 0.8}})
    assert objective_values(single, [Goal("test/accuracy", "maximize")], "best") == [0.8]
    folds = [{"history": [], "test": {"accuracy": 0.6}}, {"history": [], "test": {"accuracy": 0.8}}]
    cv = RunResult(Path("r"), "h", "finished", {}, folds=folds)
    assert objective_values(cv, [Goal("test/accuracy", "maximize")], "best") == [pytest.approx(0.7)]


class FakeTrial:
    """Enough of ``optuna.Trial`` for a trial run: fixed values, a pruner that always prunes."""

    number = 0

    def __init__(self, prune: bool) -> None:
        self.prune = prune
        self.reports: list[tuple[float, int]] = []
        self.user_attrs: dict[str, Any] = {}

    def suggest_float(self, name: str, low: float, high: float, **kw: Any) -> float:
        return 0.01

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return self.prune


def test_prune_callback_counts_steps_across_folds() -> None:
    trial = FakeTrial(prune=False)
    callback = PruneCallback(trial, "val/accuracy")  # type: ignore[arg-type]
    for row in [*_history(0.5, 0.6), *_history(0.7)]:  # fold 0: 2 epochs, fold 1: 1
        callback.on_epoch_end(row)
    assert trial.reports == [(0.5, 1), (0.6, 2), (0.7, 3)]
    trial.prune = True
    with pytest.raises(optuna.TrialPruned, match="pruned at step 4"):
        callback.on_epoch_end(_history(0.8)[0])


def test_a_pruned_trial_keeps_its_run_with_status_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    job = digits_job(
        tmp_path,
        epochs=3,
        metric="val/accuracy",
        n_trials=2,
        pruner="median",
        params={"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
    )
    plan = plan_sweep(job)
    trial = FakeTrial(prune=True)
    outcome = run_trial(plan, trial, parent_run_id=None)  # type: ignore[arg-type]
    assert outcome.state == "pruned" and "pruned at step 1" in (outcome.error or "")
    run = plan.trial_dir(0)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "pruned"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1  # stopped after epoch 1
    assert trial.user_attrs["trainspec.run_dir"] == str(run)
    config = (run / "config.yaml").read_text()
    assert "lr: 0.01" in config and "sweep" not in config


def test_log_models_all_gives_every_completed_trial_an_mlflow_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    lr = {"type": "float", "low": 1e-3, "high": 0.1}
    job = digits_job(
        tmp_path, tracking="mlflow", metric="val/accuracy", n_trials=2, pruner="none",
        log_models="all", params={"train.optimizer.lr": lr},
    )  # fmt: skip
    plan = plan_sweep(job)
    outcome = run_trial(plan, FakeTrial(prune=False), parent_run_id=None)  # type: ignore[arg-type]
    assert outcome.state == "complete"
    run_id = json.loads((plan.trial_dir(0) / "tracking.json").read_text())["run_id"]
    client = MlflowClient(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.run_name == "digits-tiny-trial-0000"
    assert run.data.tags["trainspec.trial_state"] == "COMPLETE"
    assert run.data.params["space.train.optimizer.lr"] == "0.01"
    assert "model/MLmodel" in {a.path for a in client.list_artifacts(run_id, "model")}


def test_the_params_objective_counts_a_network_and_refuses_an_estimator(tmp_path: Path) -> None:
    import numpy as np

    from trainspec.experiments._sweep_trial import count_parameters
    from trainspec.models import build_model

    net = build_model({"inputs": [4], "layers": [{"type": "Linear", "out_features": 3}]})
    net.save(tmp_path / "net" / "model")
    assert count_parameters(tmp_path / "net") == 4 * 3 + 3
    estimator = build_model({"target": "sklearn.linear_model.LogisticRegression"})
    estimator.fit(np.eye(4), np.array([0, 1, 0, 1]))
    estimator.save(tmp_path / "estimator" / "folds" / "0" / "model")
    with pytest.raises(TrainspecError, match="this job trains a scikit-learn estimator"):
        count_parameters(tmp_path / "estimator")
