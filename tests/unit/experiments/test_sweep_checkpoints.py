"""sweep.checkpoint: a trial checkpoints once, when it ends (``end``), or as the job says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.experiments.sweep_support import digits_job
from tests.unit.experiments.test_sweep_trial import FakeTrial
from trainspec.experiments._sweep_plan import plan_sweep
from trainspec.experiments._sweep_trial import run_trial

LR = {"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}


class PruneAtStep2(FakeTrial):
    def should_prune(self) -> bool:
        return self.prune and len(self.reports) >= 2


def _trial(tmp_path: Path, prune: bool = False, **sweep: Any) -> tuple[Path, dict[str, Any]]:
    job = digits_job(tmp_path, epochs=3, metric="val/accuracy", n_trials=1, params=LR, **sweep)
    plan = plan_sweep(job)
    trial = PruneAtStep2(prune=prune)
    outcome = run_trial(plan, trial, parent_run_id=None)  # type: ignore[arg-type]
    assert outcome.state == ("pruned" if prune else "complete"), outcome.error
    run = plan.trial_dir(0)
    config = yaml.safe_load((run / "config.yaml").read_text())
    exported = plan.trial_data(plan.space.decode({"train.optimizer.lr": 0.01}))
    assert "best_at_end" not in exported["train"].get("checkpoint", {})  # sweep best --export
    return run, config["train"].get("checkpoint", {})


def test_by_default_a_trial_checkpoints_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run, policy = _trial(tmp_path, pruner="none")
    assert policy["every_epochs"] is None and policy["best_at_end"] is True
    checkpoints = run / "checkpoints"
    assert 1 <= len(list(checkpoints.glob("ckpt-*"))) <= 2
    assert (checkpoints / "best" / "model.safetensors").is_file()
    assert (checkpoints / "last" / "model.safetensors").is_file()
    assert (run / "model").is_dir()


def test_a_pruned_trial_keeps_its_best_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run, _ = _trial(tmp_path, prune=True, pruner="median")  # after epoch 2: epoch 1 is saved
    best = run / "checkpoints" / "best"
    assert (best / "model.safetensors").is_file() and best.resolve().name == "ckpt-00000023"


def test_checkpoint_train_keeps_the_jobs_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _, policy = _trial(tmp_path, pruner="none", checkpoint="train")
    assert policy == {}  # the job's own train.checkpoint: every epoch
