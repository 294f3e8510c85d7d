"""A trained run is a real MLflow model: the plain MLflow client loads it and predicts from raw
inputs, from another working directory, with the numbers `trainspec predict` gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

LOAD = """
import sys, mlflow, mlflow.pyfunc, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
print(model.metadata.get_input_schema().input_names()[:2])
model.predict(pd.read_csv(sys.argv[3])).to_csv(sys.argv[4], index=False)
"""


def test_a_trained_run_loads_with_mlflow_pyfunc_elsewhere(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd
    from sklearn.datasets import load_digits

    spec = str(EXAMPLES / "digits" / "train.yaml")
    res = cli("train", spec, "train.epochs=2", "--quiet", "--run-dir", "runs/digits")
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "runs" / "digits"
    run_id = json.loads((run_dir / "tracking.json").read_text())["run_id"]
    load_digits(as_frame=True).data.iloc[:30].to_csv(tmp_path / "new.csv", index=False)
    assert cli("predict", str(run_dir), "--data", "new.csv", "--out", "ours.csv").returncode == 0

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD, uri, f"runs:/{run_id}/model", str(tmp_path / "new.csv"),
         "theirs.csv"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "['pixel_0_0', 'pixel_0_1']" in done.stdout  # the signature names the columns
    pd.testing.assert_frame_equal(
        pd.read_csv(elsewhere / "theirs.csv"), pd.read_csv(tmp_path / "ours.csv")
    )
