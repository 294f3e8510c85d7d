"""After cross-validation: ``predict RUN --ensemble`` averages the fold models, and
``train.refit: true`` trains the run's own model on all non-test data for the folds' mean best
epoch count. Through the CLI, on tiny data made here."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.integration


def _data(tmp_path: Path, n: int = 90) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    label = np.asarray(["a", "b", "c"])[np.argmax(x[:, :3] + 0.3 * rng.normal(size=(n, 3)), 1)]
    frame = pd.DataFrame(x, columns=["f0", "f1", "f2", "f3"])
    frame["label"] = label
    frame["value"] = 1000 + 300 * x[:, 0] - 200 * x[:, 1] + rng.normal(size=n)
    frame["sid"] = [f"s{i}" for i in range(n)]
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def _spec(tmp_path: Path, *, task: str = "classification", refit: bool = False) -> Path:
    out = 3 if task == "classification" else 1
    spec = {
        "seed": 0,
        "task": task,
        "model": {
            "layers": [
                {"type": "Linear", "out_features": 8},
                "ReLU",
                {"type": "Linear", "out_features": out},
            ]
        },
        "data": {
            "source": {"type": "csv", "path": "data.csv"},
            "features": ["f0", "f1", "f2", "f3"],
            "target": "label" if task == "classification" else "value",
            "id": "sid",
            "transforms": [{"type": "standardize"}],
            "split": {"method": "kfold", "folds": 3, "ratios": {"train": 0.8, "test": 0.2}},
        },
        "train": {
            "epochs": 4,
            "batch_size": 16,
            "optimizer": {"name": "AdamW", "lr": 0.05},
            "metrics": ["accuracy"] if task == "classification" else ["rmse"],
            "refit": refit,
        },
        "tracking": {"backend": "none"},
    }
    if task == "regression":
        spec["data"]["target_transform"] = "standardize"  # type: ignore[index]
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_ensemble_and_refit_through_the_cli(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from trainspec.inference import predict_run

    data = _data(tmp_path)
    res = cli("train", str(_spec(tmp_path, refit=True)), "--quiet", "--run-dir", "cv")
    assert res.returncode == 0, res.stderr
    run = tmp_path / "cv"
    summary = json.loads((run / "summary.json").read_text())

    # The refit: epochs from the folds' best epochs, recorded with how they were chosen.
    refit = summary["refit"]
    bests = [f["best_epoch"] for f in summary["folds"]]
    assert refit["chosen_by"]["fold_best_epochs"] == bests
    assert refit["epochs"] == max(1, math.floor(statistics.fmean(bests) + 0.5))
    assert refit["chosen_by"]["fold_monitor"] == "val/loss"
    assert refit["status"] == "finished" and "accuracy" in refit["test"]
    assert refit["n_train"] == len(json.loads((run / "splits.json").read_text())["ids"]) - len(
        json.loads((run / "splits.json").read_text())["folds"][0]["test"]
    )
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == list(range(1, refit["epochs"] + 1))
    assert not any(k.startswith("val/") for row in history for k in row)  # no validation split
    assert (run / "checkpoints" / "best" / "model.safetensors").is_file()
    assert (run / "model").is_dir() and (run / "transforms").is_dir()
    assert f"refit: {refit['epochs']} epochs" in res.stdout

    # Plain predict uses the refit model; --fold still picks a fold's.
    res = cli("predict", "cv", "--data", str(data), "--out", "refit.csv")
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(tmp_path / "refit.csv")
    expect = predict_run(run, data)
    assert isinstance(expect, pd.DataFrame)
    np.testing.assert_allclose(got.filter(like="proba_"), expect.filter(like="proba_"), atol=1e-6)
    fold1 = predict_run(run, data, fold=1)
    assert isinstance(fold1, pd.DataFrame)
    assert not np.allclose(fold1.filter(like="proba_"), expect.filter(like="proba_"))

    # --ensemble: the mean of the fold models' probabilities, each fold loaded on its own.
    res = cli("predict", "cv", "--data", str(data), "--out", "ens.csv", "--ensemble")
    assert res.returncode == 0, res.stderr
    ens = pd.read_csv(tmp_path / "ens.csv")
    folds = [predict_run(run / "folds" / str(k), data) for k in range(3)]
    proba = np.mean([f.filter(like="proba_").to_numpy() for f in folds], axis=0)  # type: ignore[union-attr]
    np.testing.assert_allclose(ens.filter(like="proba_").to_numpy(), proba, atol=1e-6)
    names = np.asarray([c.removeprefix("proba_") for c in ens.filter(like="proba_").columns])
    assert (ens["prediction"].to_numpy() == names[proba.argmax(1)]).all()
    assert list(ens["sid"]) == list(pd.read_csv(data)["sid"])

    # evaluate --ensemble scores the shared test split with that mean.
    res = cli("evaluate", "cv", "--data", str(data), "--ensemble", "--split", "test", "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["ensemble"] == [0, 1, 2] and report["fold"] is None
    plan = json.loads((run / "splits.json").read_text())
    test_ids = set(np.asarray(plan["ids"])[plan["folds"][0]["test"]])
    at = ens["sid"].isin(test_ids)
    accuracy = float((ens["prediction"][at] == ens["target"][at]).mean())
    assert report["n"] == len(test_ids)
    assert report["metrics"]["accuracy"] == pytest.approx(accuracy)

    # Refused, exit 2, no traceback: --split val (every fold trained on the others' val), a
    # fold directory, and a fold without weights (named).
    res = cli("evaluate", "cv", "--data", str(data), "--ensemble", "--split", "val")
    assert res.returncode == 2 and "--split test" in res.stderr
    res = cli("predict", "cv/folds/0", "--data", str(data), "--out", "x.csv", "--ensemble")
    assert res.returncode == 2 and "run directory" in res.stderr
    shutil.rmtree(run / "folds" / "1" / "checkpoints")
    shutil.rmtree(run / "folds" / "1" / "model")
    res = cli("predict", "cv", "--data", str(data), "--out", "x.csv", "--ensemble")
    assert res.returncode == 2, res.stderr
    assert "fold 1" in res.stderr and str(Path("cv") / "folds" / "1") in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "x.csv").exists()


def test_ensemble_refused_on_a_run_without_folds(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = _data(tmp_path, n=40)
    spec = yaml.safe_load(_spec(tmp_path).read_text())
    spec["data"]["split"] = {"method": "holdout", "ratios": {"train": 0.8, "val": 0.2}}
    spec["train"]["epochs"] = 1
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(spec))
    assert cli("train", "one.yaml", "--quiet", "--run-dir", "one").returncode == 0
    res = cli("predict", "one", "--data", str(data), "--out", "x.csv", "--ensemble")
    assert res.returncode == 2
    assert "not a cross-validation run" in res.stderr and "Traceback" not in res.stderr


def test_regression_ensemble_averages_values_in_target_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainspec import run_experiment
    from trainspec.inference import evaluate_run, predict_run

    data = _data(tmp_path)
    spec = _spec(tmp_path, task="regression", refit=True)
    monkeypatch.chdir(tmp_path)
    result = run_experiment(spec, run_dir=tmp_path / "reg")
    run = result.run_dir
    ens = predict_run(run, data, ensemble=True)
    folds = [predict_run(run, data, fold=k) for k in range(3)]
    assert isinstance(ens, pd.DataFrame)
    mean = np.mean([f["prediction"].to_numpy() for f in folds], axis=0)  # type: ignore[index]
    np.testing.assert_allclose(ens["prediction"].to_numpy(), mean, rtol=1e-6)
    assert 500 < float(np.median(ens["prediction"])) < 1500  # the target's own units
    assert result.summary["refit"]["epochs"] >= 1
    scored = evaluate_run(run, data, ensemble=True, split="test")
    assert scored.ensemble == [0, 1, 2] and scored.metrics["rmse"] > 0
