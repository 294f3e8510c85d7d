"""The trainers by model kind: a network and a scikit-learn estimator trained, restored and
scored the same way, with the same callbacks and run files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

from trainspec.api import build_job_model, job_settings
from trainspec.data import prepare_data
from trainspec.engine import Callback, FitContext, FitResult, trainer_for
from trainspec.errors import SpecError, TrainingError
from trainspec.models import Model
from trainspec.spec import JobSpec, load_spec

SKLEARN = {"target": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}}
NETWORK = {"inputs": [64], "layers": [{"type": "Linear", "out_features": 10}]}


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.rows: list[dict[str, float]] = []

    def on_fit_start(self, context: FitContext) -> None:
        self.calls.append("start")

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        self.calls.append("epoch")
        self.rows.append(dict(row))

    def on_fit_end(self, result: FitResult) -> None:
        self.calls.append("end")


def _job(model: dict[str, Any], **more: Any) -> JobSpec:
    spec = {
        "model": model,
        "data": {
            "source": {"type": "arrays"},
            "split": {"method": "stratified", "ratios": {"train": 0.6, "val": 0.2, "test": 0.2}},
        },
        "train": {"epochs": 2, "metrics": ["accuracy", "f1"], "progress": "none"},
        **more,
    }
    job = load_spec(spec).job
    assert job is not None
    return job


def _train(job: JobSpec, run_dir: Path) -> tuple[Model, FitResult, dict[str, float], Recorder]:
    x, y = load_digits(return_X_y=True)
    prepared = prepare_data(job.data, seed=0, task=job.task, arrays=(x[:300], y[:300]))
    model = build_job_model(job, prepared)
    recorder = Recorder()
    settings = job_settings(job, prepared, callbacks=[recorder])
    trainer = trainer_for(model)
    fold = prepared.fold(0)
    result = trainer.fit(model, fold, settings, run_dir=run_dir)
    trainer.restore_best(model, run_dir)
    return model, result, trainer.evaluate(model, fold.source("test"), settings), recorder


@pytest.mark.parametrize("arch", [SKLEARN, NETWORK], ids=["sklearn", "torch"])
def test_every_kind_reports_through_the_same_callbacks_files_and_scores(
    arch: dict[str, Any], tmp_path: Path
) -> None:
    model, result, test, recorder = _train(_job(arch), tmp_path)
    epochs = len(result.history)
    assert recorder.calls == ["start", *["epoch"] * epochs, "end"]
    assert {"epoch", "step", "val/accuracy", "val/f1"} <= set(recorder.rows[-1])
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in lines] == list(range(1, epochs + 1))
    assert lines[-1]["val/accuracy"] == result.history[-1]["val/accuracy"]
    assert result.best_epoch is not None and 1 <= result.best_epoch <= epochs
    # The test split is scored under the metrics' own names, whatever the kind.
    assert {"accuracy", "f1"} <= set(test)
    assert 0.0 <= test["accuracy"] <= 1.0
    assert model.predict(load_digits().data[:5]).shape == (5,)


def test_an_estimator_trains_once_and_scores_train_and_val(tmp_path: Path) -> None:
    _, result, _, _ = _train(_job(SKLEARN), tmp_path)
    assert len(result.history) == 1 and result.global_step == 1
    row = result.history[0]
    assert row["train/accuracy"] >= row["val/accuracy"] > 0.8


def test_an_estimator_cannot_be_fine_tuned(tmp_path: Path) -> None:
    job = _job(SKLEARN, finetune={"freeze": ["*"]})
    with pytest.raises(SpecError, match=r"finetune.*cannot be fine-tuned"):
        _train(job, tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()


def test_a_model_of_an_unknown_kind_has_no_trainer() -> None:
    class Other(Model):
        kind = "other"
        task = "classification"
        input_keys = ("x",)

        def fit(self, X: Any, y: np.ndarray, **kwargs: Any) -> Model:
            return self

        def predict(self, X: Any) -> np.ndarray:
            return np.zeros(1)

        def predict_proba(self, X: Any) -> np.ndarray:
            return np.zeros((1, 2))

        def save(self, directory: str | Path) -> Path:
            return Path(directory)

    with pytest.raises(TrainingError, match="kind 'other'.*sklearn, torch"):
        trainer_for(Other())


def test_train_refuses_a_finetune_section_for_an_estimator_before_writing(
    cli: Any, tmp_path: Path
) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "model: {target: sklearn.linear_model.LogisticRegression}\n"
        "data: {source: {type: sklearn, name: iris}}\n"
        "finetune: {freeze: ['*']}\n"
    )
    done = cli("train", str(spec), "--run-dir", str(tmp_path / "run"))
    assert done.returncode == 2, done.stderr
    assert "finetune" in done.stderr and "scikit-learn estimator" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run" / "summary.json").exists()
