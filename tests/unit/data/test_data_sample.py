"""Shapes from the data's first rows or first record agree with a full preparation, for
every source kind that has a cheap path; the others say so (None) and are prepared in full."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from unittest import mock

import h5py
import numpy as np
import pandas as pd
import pytest

from trainspec.data import prepare_data, sample_shapes
from trainspec.spec import DataSpec, load_spec

N = 300  # more rows than a sample reads


def _spec(data: dict[str, Any]) -> DataSpec:
    loaded = load_spec({"model": {"layers": [{"type": "Linear", "out_features": 2}]}, "data": data})
    assert loaded.job is not None
    return loaded.job.data


def _table(tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(N, 4)), columns=["a", "b", "c", "d"])
    frame["label"] = np.arange(N) % 3
    return frame


def _cases(tmp_path: Path) -> dict[str, dict[str, Any]]:
    frame = _table(tmp_path)
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    frame.loc[5, "b"] = np.nan  # imputed
    frame.to_csv(tmp_path / "nan.csv", index=False)
    x = np.random.default_rng(1).normal(size=(N, 2, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.arange(N) % 2)
    np.savez(tmp_path / "a.npz", sig=x, y=np.arange(N) % 2)
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["x"] = x
        f["y"] = np.arange(N) % 2
    with h5py.File(tmp_path / "r.h5", "w") as f:
        for i in range(6):
            g = f.create_group(f"nights/n{i}")
            g["ecg"] = np.zeros((20 + i, 32), dtype=np.float32)
            g["stage"] = np.arange(20 + i) % 4
            g.attrs["age"] = 30 + i
    folder = tmp_path / "recs"
    folder.mkdir()
    (folder / "m.csv").write_text("file,subject\n" + "".join(f"r{i}.npz,s{i}\n" for i in range(6)))
    for i in range(6):
        np.savez(folder / f"r{i}.npz", hr=np.zeros((10 + i, 3)), stage=np.arange(10 + i) % 2)
    csv = {"type": "csv", "path": str(tmp_path / "t.csv")}
    impute = [{"type": "impute"}, {"type": "standardize"}]
    return {
        "csv": {
            "source": csv,
            "target": "label",
            "features": ["a", "b", "c"],
            "transforms": impute,
        },
        "csv-inputs": {
            "source": csv,
            "target": "label",
            "inputs": {"left": ["a", "b"], "right": ["c", "d"]},
        },
        "parquet": {
            "source": {"type": "parquet", "path": str(tmp_path / "t.parquet")},
            "target": "label",
        },
        "npy": {
            "source": {"type": "npy", "x": str(tmp_path / "x.npy"), "y": str(tmp_path / "y.npy")}
        },
        "npz": {
            "source": {"type": "npz", "path": str(tmp_path / "a.npz")},
            "target": "y",
            "features": "sig",
        },
        "hdf5": {
            "source": {"type": "hdf5", "path": str(tmp_path / "t.h5")},
            "target": "y",
            "features": "x",
        },
        "hdf5-records": {
            "source": {"type": "hdf5", "path": str(tmp_path / "r.h5"), "records": "nights"},
            "target": "stage",
            "features": "ecg",
            "group": "age",
        },
        "hdf5-rows": {
            "source": {
                "type": "hdf5",
                "path": str(tmp_path / "r.h5"),
                "records": "nights",
                "unit": "rows",
            },
            "target": "stage",
            "features": "ecg",
        },
        "folder": {
            "source": {"type": "folder", "path": str(folder), "manifest": "m.csv"},
            "target": "stage",
            "features": "hr",
            "group": "subject",
        },
        "folder-records": {
            "source": {
                "type": "folder",
                "path": str(folder),
                "manifest": "m.csv",
                "unit": "records",
            },
            "target": "stage",
            "features": "hr",
        },
        "sklearn": {"source": {"type": "sklearn", "name": "iris"}},
    }


KINDS = [
    "csv",
    "csv-inputs",
    "parquet",
    "npy",
    "npz",
    "hdf5",
    "hdf5-records",
    "hdf5-rows",
    "folder",
    "folder-records",
    "sklearn",
]


@pytest.mark.parametrize("kind", KINDS)
def test_sample_shapes_agree_with_a_full_preparation(tmp_path: Path, kind: str) -> None:
    spec = _spec(_cases(tmp_path)[kind])
    sampled = sample_shapes(spec)
    assert sampled is not None
    full = prepare_data(spec, seed=0)
    assert sampled.input_shapes == full.input_shapes
    assert sampled.task == full.task
    assert sampled.batch_fields == full.batch_fields


def test_a_csv_sample_reads_the_first_rows_only(tmp_path: Path) -> None:
    spec = _spec(_cases(tmp_path)["csv"])
    real = pd.read_csv
    asked: list[Any] = []

    def spy(*args: Any, **kw: Any) -> Any:
        asked.append(kw.get("nrows"))
        return real(*args, **kw)

    with mock.patch.object(pd, "read_csv", spy):
        assert sample_shapes(spec) is not None
    assert asked == [64]


def test_only_the_first_hdf5_record_is_read(tmp_path: Path) -> None:
    spec = _spec(_cases(tmp_path)["hdf5-records"])
    read: list[str] = []
    real = h5py.Dataset.__getitem__

    def spy(self: h5py.Dataset, key: Any) -> Any:
        read.append(self.name)
        return real(self, key)

    with mock.patch.object(h5py.Dataset, "__getitem__", spy):
        sampled = sample_shapes(spec)
    assert sampled is not None and sampled.input_shapes == {"x": (None, 32)}
    assert set(read) == {"/nights/n0/ecg", "/nights/n0/stage"}


def test_width_changing_transforms_and_costly_sources_need_the_full_data(tmp_path: Path) -> None:
    frame = _table(tmp_path)
    frame["colour"] = np.where(np.arange(N) < 100, "red", "blue")
    frame.to_csv(tmp_path / "c.csv", index=False)
    one_hot = {
        "source": {"type": "csv", "path": str(tmp_path / "c.csv")},
        "target": "label",
        "features": ["a", "colour"],
        "transforms": [{"type": "one_hot", "columns": ["colour"]}],
    }
    assert sample_shapes(_spec(one_hot)) is None  # the first rows hold one colour of two
    (tmp_path / "imgs").mkdir()
    assert (
        sample_shapes(_spec({"source": {"type": "images", "path": str(tmp_path / "imgs")}})) is None
    )


def test_a_sample_that_cannot_tell_defers_to_the_full_preparation(tmp_path: Path) -> None:
    spec = _spec({"source": {"type": "csv", "path": str(tmp_path / "t.csv")}, "target": "nope"})
    _table(tmp_path).to_csv(tmp_path / "t.csv", index=False)
    assert sample_shapes(spec) is None


DATASET = """
import torch


class Signals(torch.utils.data.Dataset):
    def __init__(self, n: int = 10) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if i > 0:
            raise AssertionError("only the first item is read")
        return {"sig": torch.zeros(2, 50)}, i % 2
"""


def test_a_users_dataset_gives_its_first_items_shapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sample_ds_mod.py").write_text(DATASET)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sample_ds_mod", raising=False)
    spec = _spec(
        {
            "source": {"type": "dataset", "target": "sample_ds_mod.Signals"},
            "transforms": [{"type": "random_crop", "size": 32}],
        }
    )
    sampled = sample_shapes(spec, allow_imports=["sample_ds_mod"])
    assert sampled is not None
    assert sampled.input_shapes == {"sig": (2, 32)} and sampled.task == "classification"
