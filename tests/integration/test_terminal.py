"""What a user sees at an 80-column terminal or through a pipe: whole run names, short epoch
lines with the monitored metric first, each result once, no other library's INFO lines or
warnings (those are in the run's train.log), predictions as CSV on stdout."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.unit.experiments.test_runs import fake_run

pytestmark = pytest.mark.integration

NARROW = {"COLUMNS": "80"}
TRAIN = EXAMPLES / "digits" / "train.yaml"


def test_runs_ls_piped_at_80_columns_shows_whole_trial_names(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runs = tmp_path / "runs"
    for i in range(3):
        fake_run(
            runs / f"sweeps/digits-mlp/trials/{i:04d}",
            lr=0.01 * (i + 1),
            acc=0.9,
            created=f"2026-01-0{i + 1}T00:00:00+00:00",
        )
    cv = fake_run(runs / "cv-run", lr=0.1, acc=0.8, created="2026-01-05T00:00:00+00:00")
    (cv / "metrics.jsonl").unlink()  # a k-fold run: its epochs are its folds'
    for k in range(2):
        (cv / "folds" / str(k)).mkdir(parents=True)
        rows = [{"epoch": e} for e in range(1, 4 if k else 3)]
        (cv / "folds" / str(k) / "metrics.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows)
        )
    res = cli("runs", "ls", env=NARROW)
    assert res.returncode == 0, res.stderr
    for i in range(3):
        assert f"sweeps/digits-mlp/trials/{i:04d}" in res.stdout
    assert "…" not in res.stdout  # piped: no value is cut
    cv_line = next(line for line in res.stdout.splitlines() if "cv-run" in line)
    assert " 3 " in cv_line  # the most epochs a fold trained, not 0


def test_results_once_and_other_libraries_quiet(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("train", str(TRAIN), "train.epochs=2", "--run-dir", "run", env=NARROW)
    assert res.returncode == 0, res.stderr
    epoch_lines = [line for line in res.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    for n, line in enumerate(epoch_lines, 1):
        assert len(line) <= 80 and line.startswith(f"epoch {n}/2  val/accuracy ")
    assert "INFO" not in res.stderr and "Warning" not in res.stderr, res.stderr
    assert "Downloading artifacts" not in res.stderr
    log = (tmp_path / "run" / "train.log").read_text()
    assert "epoch 2/2" in log and "mlflow" in log  # the run's log holds what the terminal hides
    assert res.stdout.count("run directory: run") == 1

    rows = [[f"{v:g}" for v in range(64)], [str(i % 16) for i in range(64)]]
    header = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    (tmp_path / "x.csv").write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    pred = cli("predict", "run", "--data", "x.csv", "--out", "-", env=NARROW)
    assert pred.returncode == 0, pred.stderr
    table = list(csv.DictReader(io.StringIO(pred.stdout)))
    assert len(table) == 2 and "prediction" in table[0]
    assert not (tmp_path / "-").exists()

    to_file = cli("predict", "run", "--data", "x.csv", "--out", "p.csv", env=NARROW)
    assert to_file.returncode == 0, to_file.stderr
    both = to_file.stdout + to_file.stderr
    assert both.count("p.csv") == 1 and "INFO" not in both

    export = cli("export", "run", "--out", "ex", env=NARROW)
    assert export.returncode == 0, export.stderr
    both = export.stdout + export.stderr
    assert both.count("model.onnx") == 1, both
