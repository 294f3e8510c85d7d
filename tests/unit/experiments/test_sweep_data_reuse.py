"""A sweep worker prepares the data once for the trials whose parameters leave it as it was,
and those trials train exactly as they would on data of their own."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

import trainspec.data
from tests.unit.experiments.sweep_support import digits_job
from trainspec.experiments import _sweep_worker
from trainspec.experiments._sweep import run_sweep

LR = {"train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}}


def _count_preparations(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    prepare = trainspec.data.prepare_data

    def counting(spec: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["seed"])
        return prepare(spec, **kwargs)

    monkeypatch.setattr(trainspec.data, "prepare_data", counting)
    return calls


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "time"} for line in lines]


def _sweep(tmp: Path, **sweep: Any) -> list[list[dict[str, Any]]]:
    tmp.mkdir()
    job = digits_job(tmp, epochs=2, metric="val/accuracy", **sweep)
    result = run_sweep(job)
    assert result.counts == {"complete": sweep["n_trials"]}
    trials = sorted((result.sweep_dir / "trials").iterdir())
    return [_rows(t) for t in trials]


def test_trials_that_leave_the_data_share_one_preparation_and_train_as_on_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    calls = _count_preparations(monkeypatch)
    shared = _sweep(tmp_path / "a", n_trials=3, params=LR, sampler={"type": "random"})
    assert len(calls) == 1  # the sweep's own pre-flight reads only the data's shapes

    calls.clear()
    monkeypatch.setattr(_sweep_worker, "reusing_data", contextlib.nullcontext)
    own = _sweep(tmp_path / "b", n_trials=3, params=LR, sampler={"type": "random"})
    assert len(calls) == 3
    assert shared == own  # every epoch's losses and scores, trial by trial


def test_a_trial_whose_parameters_change_the_data_prepares_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    calls = _count_preparations(monkeypatch)
    seeds = {"seed": {"type": "categorical", "choices": [0, 1]}}
    _sweep(tmp_path / "c", n_trials=2, params=seeds, sampler={"type": "grid"})
    assert sorted(calls) == [0, 1]  # the split depends on the seed
