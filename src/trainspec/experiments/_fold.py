"""Training one fold of a run (or the whole run, without cross-validation): the model built,
fitted (PyTorch or scikit-learn), scored on the test split and saved in the fold's folder."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.experiments._ranks import refuse_sklearn_ranks
from trainspec.files import RunDir, atomic_write_text
from trainspec.spec import JobSpec, LoadedSpec, spec_hash

if TYPE_CHECKING:
    from trainspec.data import FoldData, PreparedData
    from trainspec.engine import Callback

__all__ = ["compat_fields", "train_fold"]


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


def train_fold(
    loaded: LoadedSpec,
    prepared: PreparedData,
    fold: FoldData,
    fold_dir: Path,
    resume: bool,
    progress: str | None,
    callbacks: Sequence[Callback],
    writer: bool,
    allow_changes: bool = False,
) -> dict[str, Any]:
    from trainspec.api import build_job_model
    from trainspec.models import SklearnModel, TorchModel

    job = loaded.job
    assert job is not None
    if writer:
        fold_dir.mkdir(parents=True, exist_ok=True)
        fold.transforms.save(RunDir(fold_dir).transforms)
    model = build_job_model(job, prepared)
    if isinstance(model, SklearnModel):
        refuse_sklearn_ranks()
        return _fit_sklearn(model, job, prepared, fold, fold_dir, callbacks)
    assert isinstance(model, TorchModel)
    return _fit_torch(
        model, loaded, prepared, fold, fold_dir, resume, progress, callbacks, writer, allow_changes
    )


def _fit_torch(
    model: Any,
    loaded: LoadedSpec,
    prepared: PreparedData,
    fold: FoldData,
    fold_dir: Path,
    resume: bool,
    progress: str | None,
    callbacks: Sequence[Callback],
    writer: bool,
    allow_changes: bool = False,
) -> dict[str, Any]:
    from trainspec.api import job_settings
    from trainspec.engine import evaluate, fit, prepare_finetune, resolve_device

    job = loaded.job
    assert job is not None
    config = job.train
    if progress is not None:
        config = config.model_copy(update={"progress": progress})
    plan = None
    if job.finetune is not None:
        # Weights, re-initialisation, freezing and parameter groups, before the optimiser.
        plan = prepare_finetune(
            model.module,
            job.finetune,
            run_dir=fold_dir,
            base_lr=config.optimizer.lr,
            allow_imports=job.allow_imports,
            seed=job.seed,
        )
    settings = job_settings(
        job,
        prepared,
        config=config,
        forward=model.forward_with,
        output_kind=model.output_kind,
        compat=compat_fields(loaded.data),
        allow_changes=allow_changes,
        callbacks=callbacks,
        param_groups=plan.param_groups if plan is not None else None,
        unfreeze=plan.unfreeze if plan is not None else (),
    )
    has_val = "val" in fold.split_names
    result = fit(
        model.module,
        fold.source("train", train=True, device=resolve_device(job.train.device)),
        fold.source("val") if has_val else None,
        settings,
        run_dir=fold_dir,
        resume=resume,
    )
    out: dict[str, Any] = {
        "status": "interrupted" if result.interrupted else "finished",
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_metric": result.best_metric,
        "stopped_early": result.stopped_early,
        "run_dir": str(fold_dir),
    }
    if not writer:
        return out  # rank 0 scores the test split and saves the model
    if not result.interrupted:
        _restore_best(model.module, fold_dir)
    if "test" in fold.split_names and not result.interrupted:
        out["test"] = evaluate(model.module, fold.source("test"), settings)
    model.save(RunDir(fold_dir).model)
    return out


def _restore_best(module: Any, fold_dir: Path) -> None:
    """Put the best checkpoint's weights (by the monitored metric) back into the module: the
    test split is scored with them and ``model/`` is saved with them."""
    best = RunDir(fold_dir).best_checkpoint()
    if best is not None:
        from trainspec.engine import load_checkpoint

        module.load_state_dict(load_checkpoint(best).model)


def _fit_sklearn(
    model: Any,
    job: JobSpec,
    prepared: PreparedData,
    fold: FoldData,
    fold_dir: Path,
    callbacks: Sequence[Callback],
) -> dict[str, Any]:
    import time

    from trainspec.api import fit_sklearn_scored

    start = time.perf_counter()
    scores = fit_sklearn_scored(model, job, prepared, fold, ("train", "val", "test"))
    row: dict[str, Any] = {"epoch": 1, "step": 1, **scores["train"], **scores.get("val", {})}
    test = scores.get("test")
    atomic_write_text(RunDir(fold_dir).metrics, json.dumps(row) + "\n")
    for callback in callbacks:
        callback.on_epoch_end(row)
    row["time"] = time.perf_counter() - start
    model.save(RunDir(fold_dir).model)
    out: dict[str, Any] = {
        "status": "finished",
        "history": [row],
        "best_epoch": 1,
        "best_metric": row.get(job.train.monitor.metric),
        "stopped_early": False,
        "run_dir": str(fold_dir),
    }
    if test is not None:
        out["test"] = test
    return out
