"""Bad input is reported before training, naming what is wrong, where, and what exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainspec.data import prepare_data
from trainspec.errors import DataError
from trainspec.spec import DataSpec


def _csv(frame: Any, tmp_path: Path, **extra: Any) -> DataSpec:
    frame.to_csv(tmp_path / "d.csv", index=False)
    raw = {"source": {"type": "csv", "path": str(tmp_path / "d.csv")}, **extra}
    return DataSpec.model_validate(raw)


def test_missing_file_names_it_and_lists_the_folder(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    spec = DataSpec.model_validate({"source": {"type": "csv", "path": str(tmp_path / "trian.csv")}})
    with pytest.raises(DataError, match=r"trian\.csv.*does not exist.*train\.csv"):
        prepare_data(spec, seed=0)


def test_missing_column_names_it_and_lists_columns(frame: Any, tmp_path: Path) -> None:
    spec = _csv(frame, tmp_path, features=["a", "bb"], target="label")
    with pytest.raises(DataError, match=r"'bb'.*did you mean 'b'.*'subject'"):
        prepare_data(spec, seed=0)
    with pytest.raises(DataError, match=r"data.target.*'lable'.*did you mean 'label'"):
        prepare_data(_csv(frame, tmp_path, features=["a"], target="lable"), seed=0)


def test_class_absent_from_training_split(frame: Any, tmp_path: Path) -> None:
    frame = frame.iloc[:31].copy()
    frame.loc[30, "label"] = "fox"  # a single sample of a fourth class
    frame["which"] = ["train"] * 25 + ["val"] * 6
    spec = _csv(
        frame,
        tmp_path,
        features=["a", "b"],
        target="label",
        split={"method": "predefined", "column": "which"},
    )
    with pytest.raises(DataError, match=r"\['fox'\] are absent from the training split"):
        prepare_data(spec, seed=0)


def test_nans_without_imputer_name_columns_and_rows(frame: Any, tmp_path: Path) -> None:
    frame.loc[[2, 3], "a"] = np.nan
    frame.loc[[3, 9, 11], "b"] = np.nan
    spec = _csv(frame, tmp_path, features=["a", "b"], target="label")
    with pytest.raises(DataError, match=r"'a' \(2 rows\), 'b' \(3 rows\); 4 rows in all.*impute"):
        prepare_data(spec, seed=0)
    imputed = _csv(
        frame, tmp_path, features=["a", "b"], target="label", transforms=[{"type": "impute"}]
    )
    assert prepare_data(imputed, seed=0).input_shapes == {"x": (2,)}


def test_non_numeric_feature_without_encoder(frame: Any, tmp_path: Path) -> None:
    spec = _csv(frame, tmp_path, features=["a", "color"], target="label")
    with pytest.raises(DataError, match=r"'color' hold non-numeric.*one_hot"):
        prepare_data(spec, seed=0)


def test_wrong_target_dtype_for_regression(frame: Any, tmp_path: Path) -> None:
    spec = _csv(frame, tmp_path, features=["a"], target="label")
    with pytest.raises(DataError, match="regression cannot use"):
        prepare_data(spec, seed=0, task="regression")


def test_empty_split_is_reported(frame: Any, tmp_path: Path) -> None:
    spec = _csv(
        frame.iloc[:4],
        tmp_path,
        features=["a"],
        target="label",
        split={"method": "holdout", "ratios": {"train": 0.9, "val": 0.1}},
    )
    with pytest.raises(DataError, match=r"split 'val' of the split is empty"):
        prepare_data(spec, seed=0)


def test_group_split_without_group(frame: Any, tmp_path: Path) -> None:
    spec = _csv(frame, tmp_path, features=["a"], target="label", split={"method": "group"})
    with pytest.raises(DataError, match=r"needs data\.group"):
        prepare_data(spec, seed=0)


def test_arrays_source_without_arrays() -> None:
    with pytest.raises(DataError, match="train_model"):
        prepare_data(DataSpec.model_validate({"source": {"type": "arrays"}}), seed=0)


def test_records_group_missing(records_h5: Path) -> None:
    raw = {
        "source": {"type": "hdf5", "path": str(records_h5), "records": "nights"},
        "features": "features",
        "target": "stage",
    }
    with pytest.raises(DataError, match=r"no group 'nights'.*records"):
        prepare_data(DataSpec.model_validate(raw), seed=0)


def test_mean_imputer_over_a_text_column_names_the_column(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {"a": [1.0, np.nan, 3, 4, 5, 6, 7, 8, 9, 10], "b": list("xyzxyzxyzx"), "y": [0, 1] * 5}
    )
    spec = _csv(
        frame,
        tmp_path,
        target="y",
        transforms=[{"type": "impute", "strategy": "mean"}],
        split={"method": "holdout"},
    )
    with pytest.raises(DataError, match=r"impute: column 'b' is not numeric.*'columns'"):
        prepare_data(spec, seed=0)
