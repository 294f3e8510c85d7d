"""Every source kind gives the same data, served as batches by the same contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from trainspec.data import IGNORE_INDEX, BatchSource, prepare_data
from trainspec.errors import DataError, SpecError
from trainspec.spec import DataSpec

N, WIDTH = 30, 4
SAMPLES_PER_EPOCH = 16  # as written by conftest.write_records_h5


def _xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(size=(N, WIDTH)), np.arange(N) % 3


def _columns() -> list[str]:
    return [f"f{j}" for j in range(WIDTH)]


def _frame() -> pd.DataFrame:
    x, y = _xy()
    frame = pd.DataFrame(x, columns=_columns())
    frame["y"] = y
    return frame


def csv(tmp: Path) -> tuple[dict[str, Any], Any]:
    _frame().to_csv(tmp / "d.csv", index=False)
    return {"source": {"type": "csv", "path": str(tmp / "d.csv")}, "target": "y"}, None


def parquet(tmp: Path) -> tuple[dict[str, Any], Any]:
    _frame().to_parquet(tmp / "d.parquet")
    return {"source": {"type": "parquet", "path": str(tmp / "d.parquet")}, "target": "y"}, None


def npz(tmp: Path) -> tuple[dict[str, Any], Any]:
    x, y = _xy()
    np.savez(tmp / "d.npz", X=x, y=y)
    spec = {"source": {"type": "npz", "path": str(tmp / "d.npz")}, "features": "X", "target": "y"}
    return spec, None


def npy(tmp: Path) -> tuple[dict[str, Any], Any]:
    x, y = _xy()
    np.save(tmp / "d.npy", np.column_stack([x, y]))
    names = [*_columns(), "y"]
    source = {"type": "npy", "path": str(tmp / "d.npy"), "columns": names}
    return {"source": source, "features": _columns(), "target": "y"}, None


def hdf5_tabular(tmp: Path) -> tuple[dict[str, Any], Any]:
    import h5py

    x, y = _xy()
    with h5py.File(tmp / "d.h5", "w") as f:
        f["X"], f["y"] = x, y
    spec = {"source": {"type": "hdf5", "path": str(tmp / "d.h5")}, "features": "X", "target": "y"}
    return spec, None


def folder(tmp: Path) -> tuple[dict[str, Any], Any]:
    frame = _frame()
    files = []
    for s, part in enumerate(np.array_split(np.arange(N), 5)):
        frame.iloc[part].to_csv(tmp / f"subj{s}.csv", index=False)
        files.append({"file": f"subj{s}.csv", "subject": f"s{s}"})
    pd.DataFrame(files).to_csv(tmp / "manifest.csv", index=False)
    source = {"type": "folder", "path": str(tmp), "manifest": "manifest.csv"}
    return {"source": source, "features": _columns(), "target": "y"}, None


def arrays_ndarray(tmp: Path) -> tuple[dict[str, Any], Any]:
    return {"source": {"type": "arrays"}}, _xy()


def arrays_frame(tmp: Path) -> tuple[dict[str, Any], Any]:
    x, y = _xy()
    return {"source": {"type": "arrays"}}, (pd.DataFrame(x, columns=_columns()), pd.Series(y))


def arrays_dict(tmp: Path) -> tuple[dict[str, Any], Any]:
    x, y = _xy()
    return {"source": {"type": "arrays"}, "features": "signal"}, ({"signal": x}, y)


SOURCES = [csv, parquet, npz, npy, hdf5_tabular, folder, arrays_ndarray, arrays_frame, arrays_dict]


@pytest.mark.parametrize("make", SOURCES, ids=lambda f: f.__name__)
def test_every_source_serves_the_same_table(make: Any, tmp_path: Path) -> None:
    raw, arrays = make(tmp_path)
    raw["split"] = {"method": "holdout", "ratios": {"train": 0.5, "val": 0.5}}
    prepared = prepare_data(DataSpec.model_validate(raw), seed=3, arrays=arrays)
    assert prepared.task == "classification"
    assert prepared.num_classes == 3
    assert prepared.input_shapes == {"x": (WIDTH,)}
    assert prepared.n_samples == N
    source = prepared.fold(0).source("train")
    assert isinstance(source, BatchSource)
    batch = next(source.iter_batches(np.arange(len(source)), 64))
    x, y = _xy()
    index = batch["index"].numpy()
    assert batch["x"].dtype == torch.float32 and batch["target"].dtype == torch.int64
    np.testing.assert_allclose(batch["x"].numpy(), x[index], rtol=1e-6)
    np.testing.assert_array_equal(batch["target"].numpy(), y[index])


def test_sklearn_builtins_by_name() -> None:
    for name, task, width in [("iris", "classification", 4), ("diabetes", "regression", 10)]:
        prepared = prepare_data(
            DataSpec.model_validate({"source": {"type": "sklearn", "name": name}}), seed=0
        )
        assert prepared.task == task
        assert prepared.input_shapes == {"x": (width,)}
    iris = prepare_data(
        DataSpec.model_validate({"source": {"type": "sklearn", "name": "iris"}}), seed=0
    )
    assert iris.class_names == ["setosa", "versicolor", "virginica"]


def test_regression_batches_are_float(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1
    prepared = prepare_data(
        DataSpec.model_validate({"source": {"type": "arrays"}}), seed=0, arrays=(x, y)
    )
    assert prepared.task == "regression" and prepared.num_classes is None
    batch = next(prepared.fold().source("val").iter_batches(np.arange(4), 4))
    assert batch["target"].dtype == torch.float32


def _records_spec(path: Path, **extra: Any) -> DataSpec:
    raw = {
        "source": {"type": "hdf5", "path": str(path), "records": "records"},
        "inputs": {"ecgs": {"key": "ecg", "shape": [1, -1]}, "additional": "features"},
        "target": "stage",
        "group": "subject",
        **extra,
    }
    return DataSpec.model_validate(raw)


def test_records_hdf5_pads_with_mask_and_ignore_label(records_h5: Path) -> None:
    spec = _records_spec(records_h5, transforms=[{"type": "standardize", "inputs": ["additional"]}])
    prepared = prepare_data(spec, seed=0)
    assert prepared.n_samples == 8  # one sample per record (night)
    assert prepared.input_shapes == {"ecgs": (None, 1, SAMPLES_PER_EPOCH), "additional": (None, 3)}
    assert prepared.class_names == ["W", "N1", "N2", "N3", "REM"]  # the stage_names attribute
    fold = prepared.fold(0)
    assert prepared.splits.method == "group"  # the default once data.group is set
    source = fold.source("train")
    batch = next(source.iter_batches(np.arange(len(source)), 3))
    lengths = batch["mask"].sum(dim=1)
    t_max = int(lengths.max())
    assert batch["ecgs"].shape == (3, t_max, 1, SAMPLES_PER_EPOCH)
    assert batch["additional"].shape == (3, t_max, 3)
    assert batch["target"].shape == (3, t_max) and batch["target"].dtype == torch.int64
    assert bool((batch["target"][~batch["mask"]] == IGNORE_INDEX).all())
    assert bool((batch["target"][batch["mask"]] >= 0).all())
    assert float(batch["ecgs"][~batch["mask"]].abs().sum()) == 0.0
    # Standardised per feature over the training records' epochs.
    assert fold.transforms.info["columns"]["additional"] == ["age", "sex", "hour"]


def test_records_group_balanced_weights(records_h5: Path) -> None:
    spec = _records_spec(records_h5, weight={"balance": "group"})
    prepared = prepare_data(spec, seed=0)
    fold = prepared.fold(0)
    every = np.concatenate([fold.indices[n] for n in fold.split_names])
    batches = list(fold.source("train").iter_batches(np.arange(len(fold.indices["train"])), 8))
    weight, mask = batches[0]["weight"], batches[0]["mask"]
    assert weight.shape == (len(fold.indices["train"]),)
    assert len(every) == 8
    # Every subject's epochs carry the same total weight.
    totals: dict[str, float] = {}
    subjects = prepared.splits.groups
    assert subjects is not None
    for w, m, i in zip(weight, mask, batches[0]["index"], strict=True):
        totals[subjects[int(i)]] = totals.get(subjects[int(i)], 0.0) + float(w) * int(m.sum())
    values = list(totals.values())
    assert max(values) == pytest.approx(min(values), rel=1e-5)


def test_records_as_rows_repeats_record_attributes(tmp_path: Path, write_records: Any) -> None:
    path = write_records(tmp_path / "s.h5", lengths=[4, 6, 5, 5, 4, 6])
    raw = {
        "source": {"type": "hdf5", "path": str(path), "records": "records", "unit": "rows"},
        "features": "features",
        "target": "stage",
        "group": "subject",
    }
    prepared = prepare_data(DataSpec.model_validate(raw), seed=0)
    assert prepared.n_samples == 30
    assert prepared.input_shapes == {"x": (3,)}
    batch = next(prepared.fold().source("train").iter_batches(np.arange(5), 5))
    assert "mask" not in batch and batch["target"].shape == (5,)


def test_user_dataset_by_import_path() -> None:
    raw = {
        "source": {
            "type": "dataset",
            "target": "trainspec_data_fixtures.ToyDataset",
            "params": {"n": 40},
        },
        "split": {"method": "stratified", "ratios": {"train": 0.75, "val": 0.25}},
    }
    spec = DataSpec.model_validate(raw)
    with pytest.raises(SpecError, match=r"data.source.target: .* add 'trainspec_data_fixtures'"):
        prepare_data(spec, seed=0)
    prepared = prepare_data(spec, seed=0, allow_imports=["trainspec_data_fixtures"])
    assert prepared.task == "classification" and prepared.num_classes == 2
    assert prepared.input_shapes == {"x": (5,)}
    source = prepared.fold().source("train")
    assert len(source) == 30
    batches = list(source.iter_batches(np.arange(len(source)), 8, drop_last=True))
    assert len(batches) == 3
    assert batches[0]["x"].shape == (8, 5) and batches[0]["target"].dtype == torch.int64
    np.testing.assert_array_equal(batches[0]["index"].numpy(), prepared.fold().indices["train"][:8])


def test_user_dataset_with_collate_fn_and_groups() -> None:
    raw = {
        "source": {
            "type": "dataset",
            "target": "trainspec_data_fixtures.ToyDataset",
            "collate_fn": "trainspec_data_fixtures.stack_collate",
        },
        "group": "subject",
        "split": {"method": "group_kfold", "folds": 4},
    }
    prepared = prepare_data(
        DataSpec.model_validate(raw), seed=0, allow_imports=["trainspec_data_fixtures"]
    )
    assert len(prepared.splits.folds) == 4
    batch = next(prepared.fold(2).source("val").iter_batches(np.arange(4), 4))
    assert set(batch) == {"x", "target", "index"}


def test_dataset_source_refuses_fitted_transforms() -> None:
    raw = {
        "source": {"type": "dataset", "target": "trainspec_data_fixtures.ToyDataset"},
        "transforms": [{"type": "standardize"}],
    }
    with pytest.raises(DataError, match="augmentations only"):
        prepare_data(
            DataSpec.model_validate(raw), seed=0, allow_imports=["trainspec_data_fixtures"]
        )


def test_integer_labels_with_source_names_keep_their_codes_when_a_class_is_absent(
    tmp_path: Path,
) -> None:
    """A cohort without one stage must not shift the codes of the others (fine-tuning reads
    it with the pretrained head)."""
    import h5py

    from trainspec.data import prepare_data
    from trainspec.spec import DataSpec

    path = tmp_path / "t.h5"
    y = np.array([0, 1, 2, 4] * 10, dtype=np.int64)  # no class 3
    with h5py.File(path, "w") as f:
        f["X"] = np.random.default_rng(0).normal(size=(len(y), 3)).astype(np.float32)
        f["y"] = y
        f.attrs["y_names"] = ["W", "N1", "N2", "N3", "REM"]
    spec = DataSpec.model_validate(
        {
            "source": {"type": "hdf5", "path": str(path), "unit": "rows"},
            "features": "X",
            "target": "y",
            "split": {"method": "stratified", "ratios": {"train": 0.75, "val": 0.25}},
        }
    )
    prepared = prepare_data(spec, seed=0)
    assert prepared.class_names == ["W", "N1", "N2", "N3", "REM"]
    fold = prepared.fold(0)
    batch = next(iter(fold.source("train").iter_batches(np.arange(30), 30)))
    assert set(batch["target"].tolist()) == {0, 1, 2, 4}


def test_dataset_source_shapes_follow_a_crop() -> None:
    raw = {
        "source": {"type": "dataset", "target": "trainspec_data_fixtures.ToyDataset"},
        "transforms": [{"type": "random_crop", "size": 3}],
    }
    prepared = prepare_data(
        DataSpec.model_validate(raw), seed=0, allow_imports=["trainspec_data_fixtures"]
    )
    assert prepared.input_shapes == {"x": (3,)}
    val = prepared.fold(0).source("val")
    assert next(val.iter_batches(np.arange(4), 4))["x"].shape == (4, 3)
