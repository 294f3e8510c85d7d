"""A sweep as Weights & Biases shows it, read back from the offline run files that
``wandb sync`` uploads: the parent run and every trial share the sweep's name as their group;
each trial is named after the sweep and its number, holds the values it drew under readable
names, and ends with its final state (COMPLETE, PRUNED, FAIL) in its summary, config and tags,
set before the run ended (an offline run cannot change afterwards)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.experiments.sweep_support import digits_job, ensure_sweep_field
from tests.unit.tracking.wandb_files import OfflineRun, read_offline_run
from trainspec.experiments._sweep import run_sweep

pytestmark = pytest.mark.integration
ensure_sweep_field()
pytest.importorskip("wandb")


def _run_of(run_dir: Path) -> OfflineRun:
    run_id = json.loads((run_dir / "tracking.json").read_text())["run_id"]
    return read_offline_run(run_dir, run_id)


def _offline_run(run_dir: Path) -> OfflineRun:
    """The one offline run under ``run_dir`` (a trial that failed before its run started
    writes no tracking.json)."""
    (found,) = {p.name for p in run_dir.rglob("run-*.wandb")}
    return read_offline_run(run_dir, found.removeprefix("run-").removesuffix(".wandb"))


def test_a_sweep_in_wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    # The grid in order, as in the MLflow sweep test: trial 0 completes; 1 and 3 name no
    # optimizer; trial 2's learning rate leaves it below trial 0: the median pruner stops it.
    job = digits_job(
        tmp_path,
        tracking="wandb",
        epochs=2,
        metric="val/accuracy",
        sampler="grid",
        pruner={"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
        params={
            "train.optimizer.lr": {"type": "categorical", "choices": [0.01, 1e-6]},
            "train.optimizer.name": {"type": "categorical", "choices": ["AdamW", "NoSuchOpt"]},
        },
    )
    result = run_sweep(str(job))
    assert result.counts == {"complete": 1, "fail": 2, "pruned": 1}
    sweep_dir = result.sweep_dir

    parent_id = json.loads((sweep_dir / "sweep.json").read_text())["parent_run_id"]
    parent = read_offline_run(sweep_dir / "wandb", parent_id)
    assert parent.name == "sweep-digits-tiny" and parent.group == "digits-tiny"
    assert parent.job_type == "sweep"
    assert parent.config["space.train.optimizer.lr"] == "choice(0.01, 1e-06)"
    assert "train.optimizer.lr" not in parent.config
    assert parent.config["tags.trainspec.best_trial"] == "0"

    expected = [
        ("COMPLETE", 0, "0.01", "AdamW"),
        ("FAIL", 1, "0.01", "NoSuchOpt"),
        ("PRUNED", 0, "1e-06", "AdamW"),
        ("FAIL", 1, "1e-06", "NoSuchOpt"),
    ]
    for number, (state, exit_code, lr, opt) in enumerate(expected):
        run = _offline_run(sweep_dir / "trials" / f"{number:04d}")
        where = f"trial {number}"
        assert run.name == f"digits-tiny-trial-{number:04d}", where
        assert run.group == "digits-tiny" and run.job_type == "trial", where
        assert run.summary["trainspec.trial_state"] == state, where
        assert run.config["tags.trainspec.trial_state"] == state, where
        assert state in run.tags and "RUNNING" not in run.tags, where
        assert run.exit_code == exit_code, where
        assert run.config["space.train.optimizer.lr"] == lr, where
        assert run.config["space.train.optimizer.name"] == opt, where
        assert run.config["tags.trainspec.trial"] == str(number), where
        assert run.config["tags.trainspec.parent_run_id"] == parent_id, where
    pruned = _run_of(sweep_dir / "trials" / "0002")
    assert pruned.summary["trainspec.status"] == "FINISHED"  # stopped on purpose
    assert [row["_step"] for row in pruned.history] == [1]  # the epoch it was judged on
    assert "NoSuchOpt" in _offline_run(sweep_dir / "trials" / "0001").config["tags.trainspec.error"]
