"""``train_model(X, y, config)``: model logic from Python, without touching the file system."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from trainspec import train_model
from trainspec.errors import TrainspecError

CONFIG = {
    "seed": 0,
    "model": {
        "layers": [
            {"type": "Linear", "out_features": 64},
            "ReLU",
            {"type": "Linear", "out_features": 10},
        ]
    },
    "data": {"transforms": [{"type": "standardize"}]},
    "train": {"epochs": 8, "batch_size": 64, "optimizer": {"name": "AdamW", "lr": 0.003}},
}


def test_train_model_fits_predicts_and_writes_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    model = train_model(x_train, y_train, CONFIG)
    pred = model.predict(x_test)
    assert pred.shape == y_test.shape
    assert float(np.mean(pred == y_test)) >= 0.9
    proba = model.predict_proba(x_test)
    assert proba.shape == (len(y_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert os.listdir(tmp_path) == []


def test_train_model_with_an_sklearn_estimator() -> None:
    x, y = load_digits(return_X_y=True)
    config = {
        "model": {
            "target": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 500},
        }
    }
    model = train_model(x[:1000], y[:1000], config)
    assert float(np.mean(model.predict(x[1000:]) == y[1000:])) >= 0.9


def test_train_model_refuses_a_spec_that_names_its_own_data() -> None:
    config = {**CONFIG, "data": {"source": {"type": "sklearn", "name": "digits"}}}
    with pytest.raises(TrainspecError, match="train_model takes the data as arguments"):
        train_model(np.zeros((4, 64)), np.zeros(4), config)


def _small(epochs: int) -> dict[str, object]:
    return {**CONFIG, "train": {**CONFIG["train"], "epochs": epochs, "batch_size": 50}}


def test_train_model_is_quiet_and_trains_on_every_sample_by_default(capfd) -> None:  # type: ignore[no-untyped-def]
    x, y = load_digits(return_X_y=True)
    model = train_model(x[:200], y[:200], _small(2))
    assert capfd.readouterr().err == ""
    assert [row["epoch"] for row in model.history] == [1, 2]
    assert [row["step"] for row in model.history] == [4, 8]  # 200 samples, 4 batches of 50
    assert not any(k.startswith("val/") for row in model.history for k in row)


def test_train_model_verbose_validation_and_history(capfd) -> None:  # type: ignore[no-untyped-def]
    x, y = load_digits(return_X_y=True)
    model = train_model(x[:200], y[:200], _small(3), validation=0.25, verbose=True)
    err = capfd.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 3, err
    for n, (line, row) in enumerate(zip(lines, model.history, strict=True), 1):
        # the CLI's epoch line: the epoch, then the monitored metric, within 80 columns
        assert line.startswith(f"epoch {n}/3  val/loss {row['val/loss']:.4g}  train/loss ")
        assert len(line) <= 80
    assert [row["step"] for row in model.history] == [3, 6, 9]  # 150 training samples
    assert {"train/loss", "val/loss", "val/accuracy", "lr"} <= set(model.history[0])
    assert model.history[-1]["val/loss"] < model.history[0]["val/loss"]


def test_train_model_history_of_an_sklearn_estimator(capfd) -> None:  # type: ignore[no-untyped-def]
    x, y = load_digits(return_X_y=True)
    config = {
        "model": {"target": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}},
        "train": {"metrics": ["accuracy", "f1"]},
    }
    model = train_model(x[:400], y[:400], config, validation=0.25, verbose=True)
    assert len(model.history) == 1
    row = model.history[0]
    assert row["epoch"] == 1 and 0.8 <= row["val/accuracy"] <= 1.0
    assert {"train/accuracy", "train/f1", "val/accuracy", "val/f1"} <= set(row)
    line = capfd.readouterr().err.strip()
    assert line.startswith("epoch 1/1  ") and f"val/accuracy {row['val/accuracy']:.4g}" in line
    assert train_model(x[:400], y[:400], config).history[0].keys() & {"val/accuracy"} == set()


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.2", True])
def test_train_model_refuses_a_validation_that_is_not_a_fraction(bad: object) -> None:
    with pytest.raises(TrainspecError, match=r"validation must be a fraction of \(X, y\)"):
        train_model(np.zeros((8, 4)), np.zeros(8), CONFIG, validation=bad)  # type: ignore[arg-type]


def test_train_model_refuses_two_validation_splits() -> None:
    config = {**CONFIG, "data": {"split": {"ratios": {"train": 0.5, "val": 0.5}}}}
    with pytest.raises(TrainspecError, match="validation split is given twice"):
        train_model(np.zeros((8, 4)), np.zeros(8), config, validation=0.2)
