"""The static data checks read metadata only, and pass every layout the loaders accept."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import h5py
import numpy as np
import pytest

from trainspec.data import data_problems
from trainspec.spec import load_spec


def _problems(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    loaded = load_spec({"model": {"layers": [{"type": "Linear", "out_features": 2}]}, "data": data})
    assert loaded.job is not None
    return [f"{'.'.join(map(str, p.path))}: {p.message}" for p in data_problems(loaded.job.data)]


@pytest.fixture
def h5(tmp_path: Path) -> Path:
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros((6, 3))
        f["y"] = np.arange(6) % 2
        for name in ("a", "b"):
            g = f.create_group(f"recs/{name}")
            g["sig"] = np.zeros((4, 8))
            g["stage"] = np.zeros(4, dtype=np.int64)
            g.attrs["subject"] = name
    return path


def test_valid_hdf5_layouts_pass_without_reading_a_dataset(h5: Path, tmp_path: Path) -> None:
    with mock.patch.object(h5py.Dataset, "__getitem__", side_effect=AssertionError("data read")):
        assert (
            _problems(
                tmp_path,
                {"source": {"type": "hdf5", "path": str(h5)}, "target": "y", "features": "x"},
            )
            == []
        )
        records = {"type": "hdf5", "path": str(h5), "records": "recs"}
        assert (
            _problems(
                tmp_path,
                {"source": records, "target": "stage", "features": "sig", "group": "subject"},
            )
            == []
        )


def test_hdf5_keys_are_checked_against_the_records_shared_datasets(
    h5: Path, tmp_path: Path
) -> None:
    with h5py.File(h5, "a") as f:
        f["recs/b/extra"] = np.zeros(4)  # only one record has it: not a key
    records = {"type": "hdf5", "path": str(h5), "records": "recs"}
    found = _problems(tmp_path, {"source": records, "target": "stage", "features": "extra"})
    assert found and found[0].startswith("data.features: key 'extra' is not in the data")


def test_a_valid_folder_passes_and_its_keys_come_from_the_first_file(tmp_path: Path) -> None:
    folder = tmp_path / "recs"
    folder.mkdir()
    (folder / "m.csv").write_text("file,subject\nr0.csv,s0\nr1.csv,s1\n")
    for name in ("r0.csv", "r1.csv"):
        (folder / name).write_text("hr,spo2,stage\n1,2,0\n")
    source = {"type": "folder", "path": str(folder), "manifest": "m.csv"}
    spec = {"source": source, "target": "stage", "features": ["hr", "spo2"], "group": "subject"}
    assert _problems(tmp_path, spec) == []
    found = _problems(tmp_path, {**spec, "features": ["hr", "sp02"]})
    assert found and found[0].startswith("data.features.1: key 'sp02'")
