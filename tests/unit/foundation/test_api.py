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


def _digits_sets() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x[:200], y[:200], x[1000:1090], y[1000:1090]


def test_train_model_scores_every_epoch_on_the_validation_set_given() -> None:
    import torch

    x, y, x_val, y_val = _digits_sets()
    model = train_model(x, y, _small(3), validation=(x_val, y_val))
    # 200 training rows in batches of 50: the validation rows never train
    assert [row["step"] for row in model.history] == [4, 8, 12]
    last = model.history[-1]
    assert last["val/accuracy"] == pytest.approx(model.evaluate(x_val, y_val)["accuracy"])
    proba = torch.as_tensor(model.predict_proba(x_val), dtype=torch.float64)
    loss = torch.nn.functional.nll_loss(proba.log(), torch.as_tensor(y_val)).item()
    assert last["val/loss"] == pytest.approx(loss, rel=1e-4)


def test_train_model_stops_early_on_the_validation_set_given() -> None:
    x, y, x_val, y_val = _digits_sets()
    config = {**CONFIG, "train": {**_small(40)["train"], "early_stopping": {"patience": 1}}}
    # labels that do not go with their images: the validation loss rises as the model learns
    wrong = (y_val + 1 + np.arange(len(y_val)) % 9) % 10
    model = train_model(x, y, config, validation=(x_val, wrong))
    assert 2 <= len(model.history) < 40
    losses = [row["val/loss"] for row in model.history]
    assert losses[-1] >= min(losses[:-1])


def test_train_model_validation_set_of_data_frames_by_column_name() -> None:
    pd = pytest.importorskip("pandas")
    x, y, x_val, y_val = _digits_sets()
    columns = [f"px{i}" for i in range(x.shape[1])]
    frame, frame_val = pd.DataFrame(x, columns=columns), pd.DataFrame(x_val, columns=columns)
    reordered = frame_val[columns[::-1]]  # matched by name, not by position
    model = train_model(frame, pd.Series(y), _small(2), validation=(reordered, pd.Series(y_val)))
    assert model.history[-1]["val/accuracy"] == pytest.approx(
        model.evaluate(frame_val, y_val)["accuracy"]
    )
    assert model.predict(frame_val).shape == y_val.shape  # no split column needed to predict


def test_train_model_validation_set_with_an_sklearn_estimator() -> None:
    x, y, x_val, y_val = _digits_sets()
    config = {
        "model": {"target": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}},
        "train": {"metrics": ["accuracy", "f1"]},
    }
    model = train_model(x, y, config, validation=(x_val, y_val))
    row = model.history[0]
    expected = model.evaluate(x_val, y_val, ["accuracy", "f1"])
    assert row["val/accuracy"] == pytest.approx(expected["accuracy"])
    assert row["val/f1"] == pytest.approx(expected["f1"])
    assert row["train/accuracy"] == pytest.approx(model.evaluate(x, y)["accuracy"])


def _bad_validation_sets() -> list[tuple[str, object, type[Exception], str]]:
    pd = pytest.importorskip("pandas")
    x, y = np.zeros((8, 4)), np.arange(8) % 2
    frame = pd.DataFrame(x, columns=list("abcd"))
    return [
        ("array", (x, y, y), TypeError, r"fraction of \(X, y\) such as 0.2, or a validation set"),
        ("array", [x], TypeError, r"validation set \(X_val, y_val\); got list"),
        ("array", (frame, y), TypeError, "X_val must be of X's kind, an array; got DataFrame"),
        ("frame", (x, y), TypeError, "X_val must be of X's kind, a DataFrame; got ndarray"),
        ("array", (x[:, :3], y), ValueError, r"shape of X's rows, \(4,\); got \(3,\)"),
        ("array", (x, y[:5]), ValueError, r"y_val must have one entry per row of X_val \(8 rows"),
        ("array", (x, np.array(["a"] * 8)), ValueError, "y_val holds <U1 values where y holds"),
        ("array", (x[:0], y[:0]), ValueError, "validation set .* has no rows"),
        ("frame", (frame[["a", "b", "c"]], y), ValueError, r"lacks \['d'\] and has extra \[\]"),
        ("frame", (frame.rename(columns={"d": "e"}), y), ValueError, r"has extra \['e'\]"),
        ("dict", ({"x": x, "z": y}, y), ValueError, r"lacks \[\] and has extra \['z'\]"),
        ("dict", ({"x": x[:6]}, y), ValueError, r"per row of X_val \(6 rows\); got 8 rows"),
    ]


@pytest.mark.parametrize("case", range(12))
def test_train_model_refuses_a_validation_set_that_does_not_match(case: int) -> None:
    pd = pytest.importorskip("pandas")
    kind, validation, error, message = _bad_validation_sets()[case]
    x = np.zeros((8, 4))
    known = {"array": x, "frame": pd.DataFrame(x, columns=list("abcd")), "dict": {"x": x}}[kind]
    with pytest.raises(error, match=message) as caught:
        train_model(known, np.arange(8) % 2, CONFIG, validation=validation)  # type: ignore[arg-type]
    assert isinstance(caught.value, TrainspecError)  # the CLI's exit 2, no traceback


def test_train_model_refuses_a_validation_set_beside_the_configs_split() -> None:
    config = {**CONFIG, "data": {"split": {"ratios": {"train": 0.5, "val": 0.5}}}}
    x = np.zeros((8, 4))
    with pytest.raises(TrainspecError, match="given twice.*validation='a validation set'"):
        train_model(x, np.zeros(8), config, validation=(x, np.zeros(8)))


def test_a_job_models_fit_is_train_model_on_that_model() -> None:
    """The Model contract holds for networks: a job's network built by ``build_job_model``
    trains with ``fit(X, y)`` exactly as ``train_model(X, y, job)`` does (the engine's
    trainer, the same seed), and a second ``fit`` trains on from the weights the first
    left."""
    from trainspec.api import _job_from_config, build_job_model
    from trainspec.data import prepare_data

    x, y = load_digits(return_X_y=True)
    config = {**CONFIG, "train": {**CONFIG["train"], "epochs": 2}}
    job = _job_from_config(config)
    reference = train_model(x[:600], y[:600], config)
    prepared = prepare_data(job.data, seed=job.seed, task=job.task, arrays=(x[:600], y[:600]))
    model = build_job_model(job, prepared)
    assert model.fit(x[:600], y[:600]) is model
    np.testing.assert_array_equal(model.predict_proba(x[600:]), reference.predict_proba(x[600:]))
    assert [r["train/loss"] for r in model.history] == [r["train/loss"] for r in reference.history]
    first_loss = reference.history[-1]["train/loss"]
    assert reference.fit(x[:600], y[:600], validation=0.25) is reference
    assert reference.history[0]["train/loss"] < first_loss  # on from there, not from scratch
    assert "val/accuracy" in reference.history[-1]


def test_fit_refuses_data_of_other_inputs() -> None:
    x, y = load_digits(return_X_y=True)
    model = train_model(x[:300], y[:300], {**CONFIG, "train": {**CONFIG["train"], "epochs": 1}})
    with pytest.raises(TrainspecError, match=r"fit: the data has inputs .*\(32,\).*\(64,\)"):
        model.fit(x[:300, :32], y[:300])
