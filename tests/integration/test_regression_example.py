"""examples/regression end to end: a CSV with categories, gaps and a target in thousands,
trained on a rescaled target and read back in thousands by the metrics and by predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration
SPEC = EXAMPLES / "regression" / "train.yaml"


def _history(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_rescaled_target_trains_and_reports_in_the_targets_units(cli: Any, tmp_path: Path) -> None:
    common = ["train.epochs=6", f"run.root={tmp_path / 'runs'}", "--quiet"]
    res = cli("train", str(SPEC), "--run-dir", str(tmp_path / "run"), *common)
    assert res.returncode == 0, res.stderr[-3000:]
    history = _history(tmp_path / "run")
    assert history[0]["train/loss"] < 5  # a standardised target: unit scale from the start
    assert history[-1]["val/r2"] > 0.5
    assert 100 < history[-1]["val/rmse"] < 2000  # thousands, not standard deviations

    out = tmp_path / "prices.csv"
    res = cli("predict", str(tmp_path / "run"), "--data", str(SPEC.parent / "houses.csv"),
              "--out", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    pred = pd.read_csv(out)
    assert pred["prediction"].between(500, 15000).all()
    # The run's test score is the error of these very predictions on its test rows.
    test_rows = json.loads((tmp_path / "run" / "splits.json").read_text())["folds"][0]["test"]
    part = pred.set_index("row").loc[test_rows]
    rmse = float(np.sqrt(((part["prediction"] - part["target"]) ** 2).mean()))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test"]["rmse"] == pytest.approx(rmse, rel=1e-3)

    # Without the transform the same network starts from a loss in the millions.
    res = cli("train", str(SPEC), "data.target_transform=null", "train.epochs=1",
              "--run-dir", str(tmp_path / "raw"), *common[1:])  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert _history(tmp_path / "raw")[0]["train/loss"] > 1e5
