"""A pipeline with real steps through the CLI: data made by a command, a torch model trained,
interrupted by SIGTERM and resumed from its checkpoint, evaluated, then reused from the cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

MAKE_DATA = """\
import sys
from sklearn.datasets import load_iris
frame = load_iris(as_frame=True).frame
frame.insert(0, "sid", [f"f{i}" for i in range(len(frame))])
frame.to_csv(sys.argv[1], index=False)
"""

JOB = """\
task: classification
model: {layers: [{type: Linear, out_features: 16}, ReLU, {type: Linear, out_features: 3}]}
data: {source: {type: csv, path: iris.csv}, target: target, id: sid,
       features: ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
       split: {ratios: {train: 0.6, val: 0.2, test: 0.2}}}
train: {epochs: 120, batch_size: 32, metrics: [accuracy, kappa], progress: none}
tracking: {backend: none}
"""

PIPELINE = """\
name: iris
params: {epochs: 120}
steps:
  data:
    kind: command
    argv: [python, make_data.py, "${outputs.csv}"]
    outputs: {csv: iris.csv}
  fit:
    kind: train
    spec: job.yaml
    overrides: ["data.source.path=${steps.data.outputs.csv}", "train.epochs=${params.epochs}"]
  score:
    kind: evaluate
    run: ${steps.fit.run_dir}
    data: ${steps.data.outputs.csv}
    split: test
"""


def _cli(cwd: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "trainspec", "pipeline", *args]


def test_train_interrupted_resumed_evaluated_then_cached(tmp_path: Path) -> None:
    for name, text in (("make_data.py", MAKE_DATA), ("job.yaml", JOB), ("p.yaml", PIPELINE)):
        (tmp_path / name).write_text(textwrap.dedent(text))
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    run = _cli(tmp_path, "run", "p.yaml", "--run-dir", "r")
    proc = subprocess.Popen(run, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "r" / "fit" / "checkpoints" / "last"
    deadline = time.monotonic() + 240
    while not last.is_dir():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    record = json.loads((tmp_path / "r" / "pipeline.json").read_text())
    assert record["state"] == "interrupted"
    assert [record["steps"][s]["state"] for s in ("data", "fit", "score")] == [
        "finished", "interrupted", "pending"
    ]  # fmt: skip

    again = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "fit: resuming" in again.stderr and "--resume" in again.stderr
    epochs = (tmp_path / "r" / "fit" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(e)["epoch"] for e in epochs] == list(range(1, 121))
    evaluation = json.loads((tmp_path / "r" / "score" / "evaluation.json").read_text())
    plan = json.loads((tmp_path / "r" / "fit" / "splits.json").read_text())
    assert evaluation["n"] == len(plan["folds"][0]["test"]) and "kappa" in evaluation["metrics"]

    cached = subprocess.run(_cli(tmp_path, "run", "p.yaml"), cwd=tmp_path, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert cached.returncode == 0, cached.stderr
    assert "3 of 3 steps reused" in cached.stdout
    status = subprocess.run(_cli(tmp_path, "status", "r"), cwd=tmp_path, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert "kappa" in status.stdout and "trainspec evaluate r/fit" in status.stdout
