"""The first end-to-end run: digits, from the CLI, to a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

DIGITS = EXAMPLES / "digits" / "train.yaml"


def test_digits_trains_and_writes_the_run_files(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_dir = tmp_path / "run"
    res = cli("train", str(DIGITS), "--run-dir", str(run_dir))
    assert res.returncode == 0, res.stderr
    assert str(run_dir) in res.stdout
    assert "val/accuracy" in res.stdout

    config = (run_dir / "config.yaml").read_text()
    assert "spec hash:" in config
    resolved = yaml.safe_load(config)
    assert resolved["model"]["layers"][0]["out_features"] == 128

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, 21))
    assert all("val/accuracy" in r and "train/loss" in r for r in rows)

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["val/accuracy"] >= 0.93
    assert summary["final"]["val/accuracy"] == rows[-1]["val/accuracy"]
    assert summary["spec_hash"] in config
    assert json.loads((run_dir / "splits.json").read_text())


def test_default_run_dir_is_fresh_under_runs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("train", str(DIGITS), "train.epochs=1", "--quiet")
    assert res.returncode == 0, res.stderr
    runs = tmp_path / "runs"
    created = [p for p in runs.iterdir() if (p / "config.yaml").is_file()]
    assert len(created) == 1, created
    assert created[0].name.startswith("digits-mlp-")
    # The embedded MLflow store lives beside the runs.
    assert (runs / "mlflow.db").is_file()
    assert str(created[0].name) in res.stdout


def test_same_seed_same_numbers(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("a", "b"):
        res = cli("train", str(DIGITS), "train.epochs=2", "--quiet", "--run-dir", name)
        assert res.returncode == 0, res.stderr
    a = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    b = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    strip = lambda line: {k: v for k, v in json.loads(line).items() if k != "time"}  # noqa: E731
    assert [strip(x) for x in a] == [strip(x) for x in b]
