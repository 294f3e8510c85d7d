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
