"""``inspect_data``: the report behind ``trainspec data inspect``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data import inspect_data
from trainspec.spec import DataSpec


def test_inspect_digits() -> None:
    spec = DataSpec.model_validate(
        {
            "source": {"type": "sklearn", "name": "digits"},
            "split": {"method": "stratified_kfold", "folds": 3},
        }
    )
    report = inspect_data(spec, seed=0)
    json.dumps(report)
    assert report["n_samples"] == 1797 and report["num_classes"] == 10
    assert len(report["splits"]["folds"]) == 3
    val = report["splits"]["folds"][0]["val"]
    assert val["samples"] == 599 and sum(val["class_counts"].values()) == 599
    assert any("constant column" in w for w in report["warnings"])  # digits' blank corners


def test_inspect_grouped_records(records_h5: Path) -> None:
    raw = {
        "source": {"type": "hdf5", "path": str(records_h5), "records": "records"},
        "inputs": {"ecgs": {"key": "ecg", "shape": [1, -1]}, "additional": "features"},
        "target": "stage",
        "group": "subject",
    }
    report = inspect_data(DataSpec.model_validate(raw), seed=0)
    json.dumps(report)
    assert report["sequence"] and report["groups"]["count"] == 6
    assert report["inputs"]["additional"]["columns"][0]["name"] == "age"
    fold = report["splits"]["folds"][0]
    assert sum(s["samples"] for s in fold.values()) == 8
    assert sum(s["rows"] for s in fold.values()) == report["n_rows"]


def test_inspect_warns_instead_of_failing(frame: Any, tmp_path: Path) -> None:
    frame.loc[[2, 3], "a"] = np.nan
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = DataSpec.model_validate(
        {
            "source": {"type": "csv", "path": str(tmp_path / "d.csv")},
            "features": ["a", "b"],
            "target": "label",
        }
    )
    report = inspect_data(spec, seed=0)
    assert any("NaN" in w and "'a' (2 rows)" in w for w in report["warnings"])
    assert report["inputs"]["x"]["columns"][0]["nan"] == 2
