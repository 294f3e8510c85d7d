"""Fitted transforms learn from the training split only; all save and load without pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from trainspec.data import FittedTransforms, prepare_data
from trainspec.spec import DataSpec

HOLDOUT = {"method": "holdout", "ratios": {"train": 0.5, "val": 0.5}}


def _prepare(x: Any, y: Any, transforms: list[dict[str, Any]], **extra: Any) -> Any:
    raw = {"source": {"type": "arrays"}, "transforms": transforms, "split": HOLDOUT, **extra}
    return prepare_data(DataSpec.model_validate(raw), seed=0, arrays=(x, y))


def _all(fold: Any, split: str) -> dict[str, torch.Tensor]:
    source = fold.source(split)
    return next(source.iter_batches(np.arange(len(source)), len(source)))


def test_standardiser_uses_training_statistics_only() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = np.arange(200) % 2
    prepared = _prepare(x, y, [{"type": "standardize"}])
    fold = prepared.fold(0)
    train = fold.indices["train"]
    # Push the validation rows far away: with leakage the training mean would move.
    shifted = x.copy()
    shifted[fold.indices["val"]] += 1000.0
    leaked = _prepare(shifted, y, [{"type": "standardize"}]).fold(0)
    for f in (fold, leaked):
        got = _all(f, "train")["x"].numpy()
        np.testing.assert_allclose(got.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(got.std(axis=0), 1.0, atol=1e-4)
    expected = (x[fold.indices["val"]] - x[train].mean(axis=0)) / x[train].std(axis=0)
    batch = _all(fold, "val")
    np.testing.assert_allclose(
        batch["x"].numpy(),
        expected[np.argsort(np.argsort(batch["index"].numpy()))],
        rtol=1e-4,
        atol=1e-5,
    )


def test_table_transforms_save_load_and_apply_to_new_data(tmp_path: Path, frame: Any) -> None:
    frame.loc[[1, 5, 7], "a"] = np.nan
    transforms = [
        {"type": "impute", "strategy": "median", "columns": ["a"]},
        {"type": "standardize", "columns": ["a", "b"]},
        {"type": "one_hot", "columns": ["color"]},
    ]
    raw = {
        "source": {"type": "arrays"},
        "features": ["a", "b", "color"],
        "target": "label",
        "transforms": transforms,
        "split": HOLDOUT,
    }
    prepared = prepare_data(DataSpec.model_validate(raw), seed=0, arrays=(frame, None))
    assert prepared.input_shapes == {"x": (5,)}  # a, b, color=blue, color=green, color=red
    fold = prepared.fold(0)
    fold.transforms.save(tmp_path / "t")
    loaded = FittedTransforms.load(tmp_path / "t")
    assert not list((tmp_path / "t").glob("*.pkl"))
    new = frame[["a", "b", "color"]].iloc[:7]
    out = loaded.apply({"x": new})["x"]
    assert out.shape == (7, 5) and out.dtype == np.float32
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out, fold.transforms.apply({"x": new})["x"])
    batch = _all(fold, "train")
    rows = batch["index"].numpy()
    mine = out[[i for i in range(7) if i in set(rows.tolist())]]
    theirs = batch["x"].numpy()[[i for i, r in enumerate(rows) if r < 7]]
    np.testing.assert_allclose(np.sort(mine, axis=0), np.sort(theirs, axis=0), rtol=1e-5)
    assert loaded.info["columns"]["x"][2:] == ["color=blue", "color=green", "color=red"]


def test_minmax_and_ordinal() -> None:
    frame = pd.DataFrame({"v": np.arange(20.0), "size": ["s", "m", "l", "m"] * 5})
    prepared = _prepare(
        frame, np.arange(20) % 2, [{"type": "ordinal", "columns": ["size"]}, {"type": "minmax"}]
    )
    train = _all(prepared.fold(0), "train")["x"].numpy()
    assert train.min() == pytest.approx(0.0) and train.max() == pytest.approx(1.0)


def test_sklearn_transformer_by_import_path_round_trips(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(60, 6))
    prepared = _prepare(
        x, np.arange(60) % 2, [{"type": "sklearn.decomposition.PCA", "n_components": 2}]
    )
    assert prepared.input_shapes == {"x": (2,)}
    fold = prepared.fold(0)
    fold.transforms.save(tmp_path / "pca")
    loaded = FittedTransforms.load(tmp_path / "pca")
    np.testing.assert_allclose(
        loaded.apply({"x": x[:5]})["x"], fold.transforms.apply({"x": x[:5]})["x"], rtol=1e-5
    )


def test_window_resample_and_filter() -> None:
    rng = np.random.default_rng(0)
    signals = rng.normal(size=(12, 2, 64))
    prepared = _prepare(
        {"sig": signals},
        np.arange(12) % 2,
        [
            {"type": "filter", "low": 1.0, "high": 10.0, "fs": 32.0},
            {"type": "resample", "to_hz": 16.0, "from_hz": 32.0},
            {"type": "window", "size": 8, "step": 8},
        ],
        features="sig",
    )
    assert prepared.n_samples == 12 * 4  # 64 samples -> 32 after resampling -> 4 windows
    assert prepared.input_shapes == {"x": (2, 8)}


def test_augmentations_only_in_training_and_reproducible() -> None:
    x = np.ones((16, 1, 20))
    transforms = [
        {"type": "gaussian_noise", "std": 0.5},
        {"type": "sign_flip", "p": 0.5},
        {"type": "random_crop", "size": 12},
    ]
    prepared = _prepare({"s": x}, np.arange(16) % 2, transforms, features="s")
    assert prepared.input_shapes == {"x": (1, 12)}
    fold = prepared.fold(0)
    order = np.arange(8)

    def run(seed: int | None, train: bool) -> torch.Tensor:
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        batch = next(fold.source("train", train=train).iter_batches(order, 8, generator=gen))
        x: torch.Tensor = batch["x"]
        return x

    evaluated = run(None, True)
    assert evaluated.shape == (8, 1, 12) and bool((evaluated == 1).all())
    assert bool((run(1, False) == 1).all())  # train=False: never augmented
    first, again = run(1, True), run(1, True)
    assert torch.equal(first, again) and not torch.equal(first, evaluated)
    assert not torch.equal(first, run(2, True))


def test_transform_parameter_errors_name_the_transform() -> None:
    from trainspec.errors import DataError, SpecError

    with pytest.raises(SpecError, match=r"transforms\[0\]\.colums: transform standardize takes no"):
        _prepare(np.zeros((10, 2)), np.arange(10) % 2, [{"type": "standardize", "colums": ["a"]}])
    with pytest.raises(SpecError, match=r"transforms\[0\].type.*did you mean 'standardize'"):
        _prepare(np.zeros((10, 2)), np.arange(10) % 2, [{"type": "standardizer"}])
    with pytest.raises(DataError, match="signal transforms first"):
        _prepare(
            np.zeros((10, 16)),
            np.arange(10) % 2,
            [{"type": "standardize"}, {"type": "window", "size": 4}],
        )


def test_prepare_inference_maps_new_data_like_training(tmp_path: Path, frame: Any) -> None:
    from trainspec.data import prepare_inference

    frame.to_csv(tmp_path / "train.csv", index=False)
    raw = {
        "source": {"type": "csv", "path": str(tmp_path / "train.csv")},
        "features": ["a", "b", "color"],
        "target": "label",
        "id": "subject",
        "transforms": [{"type": "standardize"}, {"type": "one_hot"}],
    }
    spec = DataSpec.model_validate(raw)
    fold = prepare_data(spec, seed=0).fold(0)
    fold.transforms.save(tmp_path / "t")
    frame.drop(columns=["label"]).iloc[:9].to_csv(tmp_path / "new.csv", index=False)
    new_spec = spec.model_copy(
        update={"source": spec.source.model_copy(update={"path": str(tmp_path / "new.csv")})}
    )
    data = prepare_inference(new_spec, FittedTransforms.load(tmp_path / "t"))
    assert data.n_samples == 9 and not data.has_target
    assert data.ids is not None and data.ids[0] == "s0"
    batch = next(data.source.iter_batches(np.arange(9), 9))
    assert set(batch) == {"x", "index"} and batch["x"].shape == (9, 5)
    expected = fold.transforms.apply({"x": frame[["a", "b", "color"]].iloc[:9]})["x"]
    np.testing.assert_allclose(batch["x"].numpy(), expected, rtol=1e-6)


def test_prepare_inference_on_records_keeps_padding(records_h5: Path, tmp_path: Path) -> None:
    from trainspec.data import prepare_inference

    raw = {
        "source": {"type": "hdf5", "path": str(records_h5), "records": "records"},
        "inputs": {"ecgs": {"key": "ecg", "shape": [1, -1]}, "additional": "features"},
        "target": "stage",
        "group": "subject",
        "transforms": [{"type": "standardize", "inputs": ["additional"]}],
    }
    spec = DataSpec.model_validate(raw)
    fold = prepare_data(spec, seed=0).fold(0)
    fold.transforms.save(tmp_path / "t")
    data = prepare_inference(spec, FittedTransforms.load(tmp_path / "t"))
    assert data.has_target and data.n_samples == 8
    batch = next(data.source.iter_batches(np.arange(8), 8))
    assert batch["mask"].shape == batch["target"].shape == (8, 9)
