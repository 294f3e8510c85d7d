"""``trainspec evaluate``: a run scored on labelled data with its own metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score

from tests.unit.inference.conftest import _table_data, _train, make_table
from trainspec.inference import InferenceError, evaluate_run, predict_run


def _split_ids(run: Path, split: str) -> set[str]:
    plan = json.loads((run / "splits.json").read_text())
    return {str(plan["ids"][i]) for i in plan["folds"][0][split]}


def test_json_object_on_stdout_and_in_the_out_file(
    cli: Any, records_run: Path, records_h5: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sub" / "eval.json"
    args = ["evaluate", str(records_run), "--data", str(records_h5), "--split", "val"]
    result = cli(*args, "--by", "subject", "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert json.loads(out.read_text()) == report
    assert set(report) >= {"metrics", "n", "split", "confusion", "by"}
    assert report["split"] == "val" and report["n"] == len(_split_ids(records_run, "val"))
    assert set(report["metrics"]) == {"accuracy"}  # the run's own metrics (the default)
    confusion = np.asarray(report["confusion"])
    assert confusion.shape == (5, 5) and confusion.sum() == report["rows"]
    assert report["metrics"]["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert sum(g["n"] for g in report["by"].values()) == report["n"]
    assert sum(g["rows"] for g in report["by"].values()) == report["rows"]


def test_scores_equal_those_computed_from_predict(
    records_run: Path, records_h5: Path, tmp_path: Path
) -> None:
    """The same predictions as ``predict``, restricted to the split's nights, scored by hand."""
    frame = predict_run(records_run, records_h5)
    assert isinstance(frame, pd.DataFrame)
    nights = _split_ids(records_run, "train")
    part = frame[frame["record"].astype(str).isin(nights)]
    stages = ["W", "N1", "N2", "N3", "REM"]
    true = np.asarray(stages)[part["target"].to_numpy()]
    result = evaluate_run(records_run, records_h5, split="train", by="subject")
    assert result.n == len(nights) and result.rows == len(part)
    expected = accuracy_score(true, part["prediction"].astype(str))
    assert result.metrics["accuracy"] == pytest.approx(expected)
    for subject, group in result.by.items():  # type: ignore[union-attr]
        assert group["metrics"]["accuracy"] <= 1.0 and subject.startswith("subj")


@pytest.fixture(scope="module")
def kappa_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A scikit-learn run on a table whose spec names ids and metrics kappa and accuracy."""
    root = tmp_path_factory.mktemp("kappa")
    make_table(90, seed=3).to_csv(root / "own.csv", index=False)
    spec = {
        "task": "classification",
        "model": {"target": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}},
        "data": _table_data(root / "own.csv"),
        "train": {"metrics": ["kappa", "accuracy"], "monitor": {"metric": "val/kappa"}},
    }
    return _train(spec, root / "run"), root / "own.csv"


def test_splits_from_another_run_select_its_samples_by_id(
    kappa_run: tuple[Path, Path], sklearn_run: Path, table_csv: Path
) -> None:
    """A model is scored on exactly the samples another run held out."""
    run, _ = kappa_run
    result = evaluate_run(run, table_csv, split="val", splits_from=sklearn_run)
    held_out = _split_ids(sklearn_run, "val")
    assert result.n == len(held_out) and set(result.metrics) == {"kappa", "accuracy"}
    frame = pd.read_csv(table_csv)
    part = frame[frame["sid"].isin(held_out)]
    predicted = predict_run(run, part)
    assert isinstance(predicted, pd.DataFrame)
    expected = cohen_kappa_score(part["label"], predicted["prediction"])
    assert result.metrics["kappa"] == pytest.approx(expected)


def test_positions_select_only_from_the_runs_own_source(tmp_path: Path) -> None:
    frame = make_table(60, seed=5)
    frame.to_csv(tmp_path / "own.csv", index=False)
    frame.to_csv(tmp_path / "copy.csv", index=False)
    data = {**_table_data(tmp_path / "own.csv"), "id": None}
    spec = {
        "task": "classification",
        "model": {"target": "sklearn.tree.DecisionTreeClassifier"},
        "data": data,
        "train": {"monitor": {"metric": "val/accuracy"}},
    }
    run = _train(spec, tmp_path / "run")
    plan = json.loads((run / "splits.json").read_text())
    result = evaluate_run(run, tmp_path / "own.csv", split="val")
    assert result.n == len(plan["folds"][0]["val"])
    with pytest.raises(InferenceError, match="by position"):
        evaluate_run(run, tmp_path / "copy.csv", split="val")
    assert evaluate_run(run, tmp_path / "copy.csv").n == 60  # --split all needs no plan


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "test"}, "no 'test' split"),
        ({"split": "holdout"}, "--split must be one of"),
        ({"by": "subjekt"}, "did you mean 'subject'"),
        ({"fold": 3}, "fold"),
    ],
)
def test_bad_requests_name_the_problem(
    records_run: Path, records_h5: Path, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InferenceError, match=match):
        evaluate_run(records_run, records_h5, **kwargs)


def test_unlabelled_data_is_exit_2_without_traceback(
    cli: Any, sklearn_run: Path, tmp_path: Path
) -> None:
    make_table(10, seed=1).drop(columns="label").to_csv(tmp_path / "new.csv", index=False)
    result = cli("evaluate", str(sklearn_run), "--data", str(tmp_path / "new.csv"))
    assert result.returncode == 2
    assert "has no labels" in result.stderr and "Traceback" not in result.stderr
