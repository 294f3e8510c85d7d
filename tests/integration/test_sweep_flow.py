"""Sweeps in one process (tracking off): a grid whose failing trial does not stop the sweep,
a cross-validated objective, resuming with a larger budget, and refusals before any trial."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from tests.unit.experiments.sweep_support import digits_job, ensure_sweep_field
from trainspec.errors import TrainspecError
from trainspec.experiments._sweep import run_sweep
from trainspec.experiments._sweep_best import best_trial_spec

pytestmark = pytest.mark.integration
ensure_sweep_field()

LR = {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}


def test_grid_with_a_failing_trial_and_a_cross_validated_objective(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    job = digits_job(
        tmp_path,
        split={"method": "stratified_kfold", "folds": 2},
        metric="val/accuracy",
        sampler="grid",
        pruner="none",
        params={"train.optimizer.name": {"type": "categorical", "choices": ["AdamW", "NoSuchOpt"]}},
    )
    seen: list[int] = []
    result = run_sweep(str(job), on_trial=lambda t: seen.append(t.number))
    assert result.status == "finished"
    assert result.counts == {"complete": 1, "fail": 1} and sorted(seen) == [0, 1]
    best = result.best[0]
    assert best["params"] == {"train.optimizer.name": "AdamW"}
    summary = json.loads((Path(best["run_dir"]) / "summary.json").read_text())
    folds = [f["best"]["val/accuracy"] for f in summary["folds"]]
    assert best["values"]["val/accuracy"] == pytest.approx(statistics.fmean(folds))

    again = run_sweep(str(job))  # the grid is done: nothing new runs
    assert again.counts == result.counts


def test_resume_with_a_larger_budget_and_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    job = digits_job(
        tmp_path, metric="val/accuracy", n_trials=2, sampler="random", pruner="none",
        params={"train.optimizer.lr": LR},
    )  # fmt: skip
    with pytest.raises(TrainspecError, match="no sweep 'digits-tiny' to resume"):
        run_sweep(str(job), resume=True)
    first = run_sweep(str(job))
    assert first.counts == {"complete": 2}
    more = run_sweep(str(job), overrides=["sweep.n_trials=3"], resume=True)
    assert more.counts == {"complete": 3}
    trials = sorted(p.name for p in (tmp_path / "runs/sweeps/digits-tiny/trials").iterdir())
    assert trials == ["0000", "0001", "0002"]

    with pytest.raises(TrainspecError, match="was started from another spec"):
        run_sweep(str(job), overrides=["train.epochs=2"])
    wider = digits_job(
        tmp_path, name="wider.yaml", metric="val/accuracy", n_trials=2, sampler="random",
        params={"train.optimizer.lr": {**LR, "high": 0.5}},
    )  # fmt: skip
    with pytest.raises(TrainspecError, match="was started from another spec"):
        run_sweep(str(wider))

    chosen = best_trial_spec(str(job), trial=1)
    assert chosen.record["number"] == 1
    assert chosen.spec["train"]["optimizer"]["lr"] == chosen.record["params"]["train.optimizer.lr"]
    assert "sweep" not in chosen.spec


def test_two_objectives_give_a_pareto_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainspec.experiments import export_best

    monkeypatch.chdir(tmp_path)
    job = digits_job(
        tmp_path,
        objectives=[{"metric": "val/accuracy"}, {"metric": "params"}],
        sampler="grid",
        pruner="none",
        params={"model.layers[0].out_features": {"type": "categorical", "choices": [4, 32]}},
    )
    result = run_sweep(str(job))
    assert result.goals == [("val/accuracy", "maximize"), ("params", "minimize")]
    widths = {r["params"]["model.layers[0].out_features"]: r for r in result.best}
    assert set(widths) == {4, 32}  # fewer parameters against higher accuracy
    for width, record in widths.items():  # a 64-w-10 MLP: 64w + w + 10w + 10 parameters
        assert record["values"]["params"] == 75 * width + 10
    with pytest.raises(TrainspecError, match="Choose one with --trial N"):
        export_best(str(job), out="best.yaml")
    chosen = export_best(str(job), out="best.yaml", trial=result.best[0]["number"])
    assert "# trial" in (tmp_path / "best.yaml").read_text() and chosen.spec["model"]
