"""data.target_transform: fitted on the training split, inverted for metrics and predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from trainspec.data import prepare_data
from trainspec.data._target import TargetTransform
from trainspec.errors import DataError
from trainspec.spec import DataSpec, JobSpec


@pytest.mark.parametrize("steps", [["standardize"], ["log1p", "standardize"], ["minmax"]])
@pytest.mark.parametrize("shape", [(50,), (50, 2)])
def test_round_trip_and_training_scale(steps: list[str], shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    y = rng.lognormal(8, 0.4, size=shape)  # thousands
    tt = TargetTransform(steps).fit(y[:40])
    z = tt.transform(y)
    if steps[-1] == "standardize":
        np.testing.assert_allclose(z[:40].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(z[:40].std(axis=0), 1, atol=1e-4)
    else:
        assert z[:40].min() == pytest.approx(0) and z[:40].max() == pytest.approx(1)
    again = TargetTransform.from_json(tt.to_json())
    np.testing.assert_allclose(again.inverse(z), y, rtol=1e-5)


def test_log1p_refuses_targets_at_or_below_minus_one() -> None:
    with pytest.raises(DataError, match="log1p needs targets above -1"):
        TargetTransform(["log1p"]).fit(np.array([3.0, -1.0]))


def _frame(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": rng.normal(size=n), "y": 5000 + 1000 * a})


def test_fold_targets_are_rescaled_and_sources_carry_the_inverse() -> None:
    spec = DataSpec.model_validate(
        {"source": {"type": "arrays"}, "features": ["a", "b"], "target": "y",
         "target_transform": "standardize", "split": {"method": "holdout"}}
    )  # fmt: skip
    frame = _frame()
    prepared = prepare_data(spec, seed=0, task="regression", arrays=(frame[["a", "b", "y"]], None))
    fold = prepared.fold(0)
    train = fold.source("train")
    batch = next(iter(train.iter_batches(np.arange(len(train)), 1000)))
    target = batch["target"].numpy()
    assert abs(target.mean()) < 1e-4 and target.std() == pytest.approx(1, abs=1e-3)
    inverse: Any = train.target_inverse  # type: ignore[attr-defined]
    raw = frame["y"].to_numpy()[batch["index"].numpy()]
    np.testing.assert_allclose(inverse(target), raw, rtol=1e-5)
    assert fold.transforms.info["target_transform"]["steps"] == ["standardize"]
    np.testing.assert_allclose(fold.transforms.inverse_target(target), raw, rtol=1e-5)


def test_a_classification_target_is_refused_statically_and_when_inferred() -> None:
    job: dict[str, Any] = {
        "task": "classification",
        "model": {"layers": [{"type": "Linear", "out_features": 2}]},
        "data": {"source": {"type": "arrays"}, "target_transform": "standardize"},
    }
    with pytest.raises(ValueError, match="set task: regression"):
        JobSpec.model_validate(job)
    spec = DataSpec.model_validate({**job["data"], "split": {"method": "holdout"}})
    frame = _frame().assign(y=np.arange(80) % 2)
    with pytest.raises(DataError, match="read as class labels"):
        prepare_data(spec, seed=0, arrays=(frame[["a", "b"]], frame["y"]))


def test_unknown_steps_fail_validation() -> None:
    with pytest.raises(ValueError, match="target_transform"):
        DataSpec.model_validate({"source": {"type": "arrays"}, "target_transform": "log"})


@pytest.mark.parametrize(
    "model",
    [
        {"target": "sklearn.linear_model.LinearRegression"},
        {"layers": [{"type": "Linear", "out_features": 1}]},
    ],
)
def test_train_model_predicts_in_the_targets_units(model: dict[str, Any]) -> None:
    from trainspec import train_model

    frame = _frame(200)
    config = {
        "task": "regression",
        "model": model,
        "data": {"target_transform": "standardize", "split": {"method": "holdout"}},
        "train": {"epochs": 60, "batch_size": 64, "optimizer": {"name": "Adam", "lr": 0.05}},
    }
    fitted = train_model(frame[["a", "b"]], frame["y"], config)
    pred = fitted.predict(frame[["a", "b"]])
    assert abs(float(pred.mean()) - 5000) < 100  # thousands, not standard deviations
    assert fitted.evaluate(frame[["a", "b"]], frame["y"].to_numpy(), ["r2"])["r2"] > 0.9
