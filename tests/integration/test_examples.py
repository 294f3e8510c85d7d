"""The shipped examples: users' own modules, datasets and estimators train end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

RUN_FILES = {"config.yaml", "environment.json", "splits.json", "metrics.jsonl", "summary.json"}


def _train(cli, spec: Path, run_dir: Path, *overrides: str) -> dict:  # type: ignore[no-untyped-def]
    res = cli("train", str(spec), "tracking.backend=none", *overrides, "--run-dir", str(run_dir))
    assert res.returncode == 0, res.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    per_run = {"metrics.jsonl"}
    assert RUN_FILES - per_run <= {p.name for p in run_dir.iterdir()}
    fold_dirs = [Path(f["run_dir"]) for f in summary.get("folds", [])] or [run_dir]
    for fold_dir in fold_dirs:
        assert (fold_dir / "metrics.jsonl").is_file()
    return summary


def test_user_module_from_net_params_json(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    summary = _train(cli, EXAMPLES / "custom_module" / "train.yaml", tmp_path / "run")
    assert summary["best"]["val/accuracy"] >= 0.93
    assert (tmp_path / "run" / "checkpoints" / "best" / "model.safetensors").is_file()
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "hidden: 96" in config  # the flat JSON was pulled into the resolved spec


def test_user_module_needs_its_prefix_allowed(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli(
        "train", str(EXAMPLES / "custom_module" / "train.yaml"), "allow_imports=[]",
        "tracking.backend=none", "--run-dir", str(tmp_path / "run"),
    )  # fmt: skip
    assert res.returncode == 2
    assert "custom_nets" in res.stderr and "allow_imports" in res.stderr


def test_sklearn_estimator_writes_the_same_run_files(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    summary = _train(cli, EXAMPLES / "sklearn" / "train.yaml", tmp_path / "run")
    assert summary["final"]["val/accuracy"] >= 0.9
    assert (tmp_path / "run" / "model").is_dir()


def test_user_dataset_with_three_dunders(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    summary = _train(cli, EXAMPLES / "custom_dataset" / "train.yaml", tmp_path / "run")
    assert summary["best"]["val/accuracy"] >= 0.8


def test_grouped_kfold_keeps_subjects_apart_and_reports_cv(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    summary = _train(cli, EXAMPLES / "grouped" / "train.yaml", tmp_path / "run", "train.epochs=2")
    assert len(summary["folds"]) == 4
    assert {"mean", "std"} <= set(summary["cv"]["val/accuracy"])
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert splits


def test_data_inspect_on_digits_and_a_grouped_example(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("data", "inspect", str(EXAMPLES / "digits" / "train.yaml"), "--json")
    assert res.returncode == 0, res.stderr
    digits = json.loads(res.stdout)
    text = json.dumps(digits)
    assert "1797" in text  # every sample counted
    res = cli("data", "inspect", str(EXAMPLES / "grouped" / "train.yaml"), "--json")
    assert res.returncode == 0, res.stderr
    grouped = json.dumps(json.loads(res.stdout))
    assert "S00" in grouped or "groups" in grouped
    res = cli("data", "inspect", str(EXAMPLES / "grouped" / "train.yaml"))
    assert res.returncode == 0, res.stderr
