"""The npy / npz source: separate X and y files, memory-mapped, npz keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainspec.data import prepare_data
from trainspec.data._mapped import MappedBatchSource
from trainspec.errors import DataError
from trainspec.spec import DataSpec


def _spec(**source: object) -> DataSpec:
    return DataSpec.model_validate({"source": {"type": "npy", **source}})


def _xy(tmp_path: Path, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2, 5)).astype(np.float32)
    y = np.arange(n) % 2
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", y)
    return x, y


def test_separate_files_are_memory_mapped_and_served_by_row(tmp_path: Path) -> None:
    x, y = _xy(tmp_path)
    prepared = prepare_data(
        _spec(x=str(tmp_path / "X.npy"), y=str(tmp_path / "y.npy")),
        seed=0,
        cache_dir=tmp_path / "cache",
    )
    assert prepared.input_shapes == {"x": (2, 5)}
    assert prepared.num_classes == 2
    source = prepared.fold(0).source("train")
    assert isinstance(source, MappedBatchSource)
    assert isinstance(source.inputs["x"].values, np.memmap)
    batch = next(source.iter_batches(np.arange(len(source))[::-1], 7))
    rows = batch["index"].numpy()
    np.testing.assert_array_equal(batch["x"].numpy(), x[rows])
    np.testing.assert_array_equal(batch["target"].numpy(), y[rows])
    # nothing of the mapped data went into the assembled-data cache
    assert not list((tmp_path / "cache").glob("*/arrays.npz"))


def test_npz_keys(tmp_path: Path) -> None:
    x, y = _xy(tmp_path)
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    spec = _spec(
        x={"path": str(tmp_path / "d.npz"), "key": "images"},
        y={"path": str(tmp_path / "d.npz"), "key": "labels"},
    )
    prepared = prepare_data(spec, seed=0)
    assert prepared.n_samples == 40 and prepared.input_shapes == {"x": (2, 5)}
    source = prepared.fold(0).source("train")
    assert isinstance(source, MappedBatchSource)  # stored uncompressed: mapped in place
    batch = next(source.iter_batches(np.arange(5), 5))
    np.testing.assert_array_equal(batch["x"].numpy(), x[batch["index"].numpy()])


def test_compressed_npz_is_read(tmp_path: Path) -> None:
    x, _y = _xy(tmp_path)
    np.savez_compressed(tmp_path / "d.npz", x=x)
    prepared = prepare_data(_spec(x=str(tmp_path / "d.npz"), y=str(tmp_path / "y.npy")), seed=0)
    assert prepared.n_samples == 40


def test_missing_npz_key_lists_the_keys_and_how_to_name_one(tmp_path: Path) -> None:
    x, y = _xy(tmp_path)
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    spec = _spec(x={"path": str(tmp_path / "d.npz"), "key": "X"}, y=str(tmp_path / "y.npy"))
    with pytest.raises(DataError) as err:
        prepare_data(spec, seed=0)
    message = str(err.value)
    assert "'X'" in message and "'images', 'labels'" in message
    assert "x: {path: d.npz, key: images}" in message
    with pytest.raises(DataError, match="holds several arrays"):
        prepare_data(_spec(x=str(tmp_path / "d.npz")), seed=0)


def test_row_counts_must_match(tmp_path: Path) -> None:
    _xy(tmp_path)
    np.save(tmp_path / "short.npy", np.zeros(3))
    with pytest.raises(DataError, match="3 rows but source.x"):
        prepare_data(_spec(x=str(tmp_path / "X.npy"), y=str(tmp_path / "short.npy")), seed=0)


def test_missing_file_lists_the_folder(tmp_path: Path) -> None:
    _xy(tmp_path)
    with pytest.raises(DataError, match="X.npy"):
        prepare_data(_spec(x=str(tmp_path / "x.npy"), y=str(tmp_path / "y.npy")), seed=0)


def test_fitted_transforms_still_apply_to_mapped_inputs(tmp_path: Path) -> None:
    _x, _ = _xy(tmp_path)
    spec = DataSpec.model_validate(
        {
            "source": {"type": "npy", "x": str(tmp_path / "X.npy"), "y": str(tmp_path / "y.npy")},
            "inputs": {"x": {"key": "x", "shape": [10]}},
            "transforms": [{"type": "standardize"}],
        }
    )
    prepared = prepare_data(spec, seed=0)
    train = prepared.fold(0).source("train")
    batch = next(train.iter_batches(np.arange(len(train)), len(train)))
    assert abs(float(batch["x"].mean())) < 1e-5


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"path": "a.npy", "x": "b.npy"}, "not both"),
        ({"y": "y.npy"}, "'path'"),
        ({}, "'path'"),
    ],
)
def test_schema_forms(source: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _spec(**source)


@pytest.mark.parametrize("shape", [(30,), (30, 3), (30, 2, 2)])
def test_rows_read_from_the_file_match_the_array(tmp_path: Path, shape: tuple) -> None:
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", np.arange(30) % 3)
    prepared = prepare_data(_spec(x=str(tmp_path / "X.npy"), y=str(tmp_path / "y.npy")), seed=0)
    source = prepared.fold(0).source("train")
    assert isinstance(source, MappedBatchSource)
    order = np.random.default_rng(1).permutation(len(source))
    for batch in source.iter_batches(order, 4):
        rows = batch["index"].numpy()
        expected = x[rows] if x.ndim > 1 else x[rows][:, None]
        np.testing.assert_array_equal(batch["x"].numpy(), expected)


def test_named_columns_of_a_mapped_table(tmp_path: Path) -> None:
    table = np.arange(40, dtype=np.float64).reshape(20, 2)
    table[:, 1] = np.arange(20) % 2
    np.save(tmp_path / "t.npy", table)
    spec = DataSpec.model_validate(
        {
            "source": {"type": "npy", "path": str(tmp_path / "t.npy"), "columns": ["a", "label"]},
            "features": ["a"],
            "target": "label",
        }
    )
    prepared = prepare_data(spec, seed=0)
    batch = next(prepared.fold(0).source("train").iter_batches(np.arange(3), 3))
    np.testing.assert_array_equal(batch["x"].numpy()[:, 0], table[batch["index"].numpy(), 0])
