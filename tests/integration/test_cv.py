"""Five-fold cross-validation of the digits example: every fold trained, per-fold results and
the mean and standard deviation printed and in summary.json."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

CV = EXAMPLES / "digits" / "cv.yaml"


def test_five_fold_cv_reports_mean_and_std(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli(
        "train", str(CV), "train.epochs=1", "tracking.backend=none", "--quiet", "--run-dir", "cv"
    )
    assert res.returncode == 0, res.stderr
    assert "cross-validation" in res.stdout and "mean" in res.stdout and "std" in res.stdout

    run = tmp_path / "cv"
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["folds"]) == 5
    for k in range(5):
        assert (run / "folds" / str(k) / "metrics.jsonl").is_file()
        assert (run / "folds" / str(k) / "model").is_dir()
    best = [f["best"]["val/accuracy"] for f in summary["folds"]]
    cv = summary["cv"]["val/accuracy"]
    assert cv["mean"] == pytest.approx(statistics.fmean(best))
    assert cv["std"] == pytest.approx(statistics.stdev(best))
    assert 0 < cv["std"] < 0.2 and cv["mean"] > 0.5
    assert f"{cv['mean']:.4g}" in res.stdout

    # The five validation folds cover every non-test sample exactly once.
    splits = json.loads((run / "splits.json").read_text())
    val = [i for fold in splits["folds"] for i in fold["val"]]
    assert len(val) == len(set(val)) == splits["n_samples"]
