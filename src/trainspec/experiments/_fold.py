"""Training one fold of a run (or the whole run, without cross-validation): the model built,
fitted by its kind's trainer, scored on the test split and saved in the fold's folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.files import RunDir
from trainspec.spec import JobSpec, LoadedSpec, spec_hash

if TYPE_CHECKING:
    from trainspec.data import FoldData, PreparedData
    from trainspec.engine import Callback, FitSettings

__all__ = ["FoldRun", "compat_fields", "train_fold"]


def _hash_of(value: Any) -> str:
    return spec_hash({"v": value})[:16]


def compat_fields(data: Mapping[str, Any]) -> dict[str, str]:
    """Hashes of the spec fields a resumed run must share with the run it continues.

    ``train.epochs`` and everything about tracking or progress may change; the model, the data,
    the split, the seed and the batch size may not.
    """
    d = dict(data.get("data", {}))
    d.pop("loader", None)  # workers and pinned memory do not change the numbers
    split = d.pop("split", None)
    train = dict(data.get("train", {}))
    return {
        "model": _hash_of(data.get("model")),
        "finetune": _hash_of(data.get("finetune")),
        "data": _hash_of(d),
        "data.split": _hash_of(split),
        "seed": str(data.get("seed", 0)),
        "train.batch_size": str(train.get("batch_size")),
        "train.optimizer": _hash_of(train.get("optimizer")),
        "train.accumulate_steps": str(train.get("accumulate_steps")),
    }


@dataclass(frozen=True)
class FoldRun:
    """What every fold of a run (and the refit after them) shares."""

    loaded: LoadedSpec
    prepared: PreparedData
    resume: bool
    progress: str | None
    writer: bool  # rank 0: writes the run's files, scores the test split, saves the model
    allow_changes: bool = False

    @property
    def job(self) -> JobSpec:
        assert self.loaded.job is not None
        return self.loaded.job

    def settings(self, callbacks: Sequence[Callback]) -> FitSettings:
        from trainspec.api import job_settings

        config = self.job.train
        if self.progress is not None:
            config = config.model_copy(update={"progress": self.progress})
        return job_settings(
            self.job,
            self.prepared,
            config=config,
            callbacks=callbacks,
            compat=compat_fields(self.loaded.data),
            allow_changes=self.allow_changes,
        )


def train_fold(
    run: FoldRun, fold: FoldData, fold_dir: Path, callbacks: Sequence[Callback]
) -> dict[str, Any]:
    """Build the job's model, train it on ``fold`` in ``fold_dir`` with its kind's trainer,
    score the test split with the best weights and save the model there."""
    from trainspec.api import build_job_model
    from trainspec.engine import trainer_for

    if run.writer:
        fold_dir.mkdir(parents=True, exist_ok=True)
        fold.transforms.save(RunDir(fold_dir).transforms)
    model = build_job_model(run.job, run.prepared)
    trainer = trainer_for(model)
    settings = run.settings(callbacks)
    result = trainer.fit(model, fold, settings, run_dir=fold_dir, resume=run.resume)
    out: dict[str, Any] = {
        "status": "interrupted" if result.interrupted else "finished",
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_metric": result.best_metric,
        "stopped_early": result.stopped_early,
        "run_dir": str(fold_dir),
    }
    if not run.writer:
        return out  # rank 0 scores the test split and saves the model
    if not result.interrupted:
        trainer.restore_best(model, fold_dir)
    if "test" in fold.split_names and not result.interrupted:
        out["test"] = trainer.evaluate(model, fold.source("test"), settings)
    model.save(RunDir(fold_dir).model)
    return out
