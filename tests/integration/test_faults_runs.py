"""Fault battery, run directories: resume refuses changed training keys (naming each with old
and new value) unless --allow-changes, which is recorded without touching config.yaml; user
files are never overwritten; a failing run writes summary.json with its status and reason;
summary.json is strict JSON; infinities in the data are a data error; advice is never refused."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.unit.experiments.sweep_support import digits_job
from trainspec.errors import DataError, TrainspecError

pytestmark = pytest.mark.integration


def _spec(tmp_path: Path, **train: Any) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    spec = digits_job(tmp_path, epochs=1)
    data = yaml.safe_load(spec.read_text())
    data["train"].update(train)
    spec.write_text(yaml.safe_dump(data))
    return spec


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_resume_names_changed_keys_and_records_allowed_changes(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from trainspec.experiments import run_experiment

    spec, run = _spec(tmp_path), tmp_path / "run"
    run_experiment(str(spec), run_dir=run)
    config = (run / "config.yaml").read_bytes()
    changed = ["train.loss.label_smoothing=0.1", "train.grad_clip_norm=1.0", "train.epochs=2"]
    res = cli("train", str(spec), *changed, "--run-dir", str(run), "--resume", "-q")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "train.loss.label_smoothing: not set -> 0.1" in res.stderr
    assert "train.grad_clip_norm: not set -> 1.0" in res.stderr
    assert "train.epochs" not in res.stderr.split("--allow-changes")[0]  # epochs may grow
    assert (run / "config.yaml").read_bytes() == config

    from trainspec.spec import load_spec

    loaded = load_spec(str(spec), overrides=changed)
    result = run_experiment(loaded, run_dir=run, resume=True, allow_changes=True)
    assert result.status == "finished" and len(result.history) == 2
    assert (run / "config.yaml").read_bytes() == config  # the spec the run started with
    (record,) = json.loads((run / "resume_changes.json").read_text())
    assert record["changes"]["train.grad_clip_norm"] == {"old": None, "new": 1.0}
    assert set(record["changes"]) == {"train.loss.label_smoothing", "train.grad_clip_norm"}
    # The changed spec is now the run's: resuming it again needs no flag.
    again = load_spec(str(spec), overrides=[*changed[:2], "train.epochs=3"])
    assert run_experiment(again, run_dir=run, resume=True).status == "finished"
    with pytest.raises(TrainspecError, match=r"train.grad_clip_norm: 1.0 -> not set"):
        run_experiment(str(spec), run_dir=run, resume=True)


def test_user_files_in_a_non_empty_run_dir_are_never_overwritten(tmp_path: Path) -> None:
    from trainspec.experiments import run_experiment

    spec, run = _spec(tmp_path), tmp_path / "mine"
    run.mkdir()
    (run / "config.yaml").write_text("my: own config\n")
    (run / "data.json").write_text('{"mine": true}\n')
    with pytest.raises(TrainspecError, match=r"config.yaml, data.json.*never writes over"):
        run_experiment(str(spec), run_dir=run)
    assert (run / "config.yaml").read_text() == "my: own config\n"
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "data.json"]


def test_no_valid_checkpoint_advises_a_step_that_works(tmp_path: Path) -> None:
    from trainspec.experiments import run_experiment

    spec, run = _spec(tmp_path, checkpoint={"save_best": False}), tmp_path / "run"
    run_experiment(str(spec), run_dir=run)
    for ckpt in (run / "checkpoints").glob("ckpt-*"):
        (ckpt / "state.json").write_text("{}")
    with pytest.raises(TrainspecError, match=r"no valid checkpoint") as info:
        run_experiment(str(spec), run_dir=run, resume=True)
    assert "--run-dir NEW, without --resume" in str(info.value)
    fresh = run_experiment(str(spec), run_dir=tmp_path / "NEW")  # the advice, followed
    assert fresh.status == "finished"


def test_a_failing_run_writes_strict_summary_with_status_and_reason(tmp_path: Path) -> None:
    from trainspec.experiments import run_experiment

    # SGD at 1e30: the weights blow up in the first step; every later loss is NaN.
    blow_up = {"optimizer": {"name": "SGD", "lr": 1e30}, "epochs": 2}
    failing = _spec(tmp_path, **blow_up, nan_policy="fail")
    with pytest.raises(TrainspecError, match="non-finite training loss"):
        run_experiment(str(failing), run_dir=tmp_path / "failed")
    summary = _strict((tmp_path / "failed" / "summary.json").read_text())
    assert summary["status"] == "failed" and "non-finite training loss" in summary["reason"]

    skipping = _spec(tmp_path / "s", **blow_up, nan_policy="skip")
    result = run_experiment(str(skipping), run_dir=tmp_path / "skipped")
    summary = _strict((tmp_path / "skipped" / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["final"]["train/loss"] is None and "final.train/loss" in summary["non_finite"]
    assert math.isnan(result.history[-1]["train/loss"])


def test_infinite_inputs_are_a_data_error_naming_the_column(tmp_path: Path) -> None:
    from trainspec.data import prepare_data
    from trainspec.spec import DataSpec

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    frame["label"] = (frame["a"] > 0).astype(int)
    frame.loc[[3, 7], "b"] = np.inf
    frame.loc[5, "a"] = np.nan
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = DataSpec.model_validate(
        {
            "source": {"type": "csv", "path": str(tmp_path / "d.csv")},
            "features": ["a", "b"],
            "target": "label",
            "transforms": [{"type": "impute"}],  # fills the NaN, not the infinities
        }
    )
    with pytest.raises(DataError, match=r"infinite values in 'b' \(2 rows\)") as info:
        prepare_data(spec, seed=0)
    assert "'a'" not in str(info.value)
