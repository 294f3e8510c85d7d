"""One trainer per model kind: how a ``Model`` learns from a fold, gets its best weights back
and is scored on a split. Callers (a run's folds, ``train_model``) ask ``trainer_for(model)``
and never test the model's type.

``torch``: the job's ``finetune:`` section, then the loop of ``fit`` (checkpoints, resume,
early stopping). ``sklearn``: one ``fit`` of the estimator on the training split's arrays,
scored on each split with the job's metrics, reported as a run of one epoch: the same
callbacks, one row in ``metrics.jsonl`` and a ``FitResult``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol, cast

import numpy as np

from trainspec.data import BatchSource, FoldData
from trainspec.errors import SpecError, TrainingError, TrainspecError
from trainspec.files import RunDir
from trainspec.metrics import compute_metrics, get_metric
from trainspec.models import Model, TorchModel

from ._callbacks import call
from ._checkpoint import load_checkpoint
from ._device import resolve_device, world_size
from ._evaluate import evaluate, predict_outputs
from ._finetune import FinetunePlan, check_init, prepare_finetune
from ._fit import fit
from ._result import FitContext, FitResult
from ._settings import FitSettings
from ._state import rewrite_jsonl

__all__ = ["EstimatorTrainer", "InitLoad", "TorchTrainer", "Trainer", "trainer_for"]

Scores = dict[str, float]
# What ``prepare`` does with ``finetune.init``: load the weights, check the file's names and
# shapes from its header alone (no tensor read; the module may be on the meta device), or
# leave it (the patterns and groups only).
InitLoad = Literal["weights", "header", "none"]


class Trainer(Protocol):
    """What the engine does with a model of one kind."""

    def prepare(
        self, model: Model, settings: FitSettings, *, run_dir: Path | None, load: InitLoad
    ) -> FinetunePlan | None:
        """Apply ``settings.finetune`` to the model; None without one."""

    def fit(
        self,
        model: Model,
        fold: FoldData,
        settings: FitSettings,
        *,
        run_dir: Path | None = None,
        resume: bool = False,
        stop_flag: Callable[[], bool] | None = None,
    ) -> FitResult:
        """Train on ``fold``'s training split, scored every epoch on its ``val`` split."""

    def restore_best(self, model: Model, run_dir: Path) -> None:
        """Give the model the weights of the run's best epoch (by the monitored metric)."""

    def evaluate(
        self, model: Model, source: BatchSource, settings: FitSettings
    ) -> dict[str, float]:
        """The job's metrics (and the loss, where there is one) over ``source``."""

    def outputs(self, model: Model, source: BatchSource, *, batch_size: int) -> np.ndarray:
        """What the model gives for every sample of ``source``, in its order: a network's raw
        outputs (logits or values), an estimator's predictions."""


class TorchTrainer:
    """A network: ``fit``'s loop over ``TorchModel.module``."""

    def prepare(
        self, model: Model, settings: FitSettings, *, run_dir: Path | None, load: InitLoad
    ) -> FinetunePlan | None:
        spec = settings.finetune
        if spec is None:
            return None
        module = _network(model).module
        plan = prepare_finetune(
            module,
            spec,
            run_dir=run_dir,
            base_lr=settings.config.optimizer.lr,
            allow_imports=settings.allow_imports,
            load=load == "weights",
            seed=settings.seed,
        )
        if load == "header" and spec.init is not None:
            check_init(module, spec.init)
        return plan

    def fit(
        self,
        model: Model,
        fold: FoldData,
        settings: FitSettings,
        *,
        run_dir: Path | None = None,
        resume: bool = False,
        stop_flag: Callable[[], bool] | None = None,
    ) -> FitResult:
        net = _network(model)
        # Weights, re-initialisation, freezing and parameter groups, before the optimiser.
        plan = self.prepare(net, settings, run_dir=run_dir, load="weights")
        if plan is not None:
            settings = settings.replace(param_groups=plan.param_groups, unfreeze=plan.unfreeze)
        device = resolve_device(settings.config.device)
        return fit(
            net.module,
            fold.source("train", train=True, device=device),
            fold.source("val") if "val" in fold.split_names else None,
            _calling(net, settings),
            run_dir=run_dir,
            resume=resume,
            stop_flag=stop_flag,
        )

    def restore_best(self, model: Model, run_dir: Path) -> None:
        best = RunDir(run_dir).best_checkpoint()
        if best is not None:
            _network(model).module.load_state_dict(load_checkpoint(best).model)

    def evaluate(
        self, model: Model, source: BatchSource, settings: FitSettings
    ) -> dict[str, float]:
        net = _network(model)
        return evaluate(net.module, source, _calling(net, settings))

    def outputs(self, model: Model, source: BatchSource, *, batch_size: int) -> np.ndarray:
        net = _network(model)
        return predict_outputs(net.module, source, batch_size=batch_size, forward=net.forward_batch)


def _network(model: Model) -> TorchModel:
    return cast(TorchModel, model)  # trainer_for picked this trainer by the model's kind


def _calling(net: TorchModel, settings: FitSettings) -> FitSettings:
    """The settings with how this network is called and what it returns."""
    return settings.replace(forward=net.forward_with, output_kind=net.output_kind)


class EstimatorTrainer:
    """A scikit-learn style estimator: one ``Model.fit`` on arrays, one row of scores."""

    def prepare(
        self, model: Model, settings: FitSettings, *, run_dir: Path | None, load: InitLoad
    ) -> FinetunePlan | None:
        if settings.finetune is not None:
            raise SpecError.single(
                f"a {model.kind_label} ({type(model).__name__}) cannot be fine-tuned: it has "
                "no weights to load, freeze or group",
                path=("finetune",),
                hint="remove the finetune section, or train a torch model",
            )
        return None

    def fit(
        self,
        model: Model,
        fold: FoldData,
        settings: FitSettings,
        *,
        run_dir: Path | None = None,
        resume: bool = False,
        stop_flag: Callable[[], bool] | None = None,
    ) -> FitResult:
        del resume, stop_flag  # one call of the estimator's fit: nothing to resume or stop
        self.prepare(model, settings, run_dir=run_dir, load="none")
        if world_size() > 1:
            raise TrainingError(
                f"a {model.kind_label} trains in one process: run it without --nproc or torchrun"
            )
        start = time.perf_counter()
        train = fold.source("train")
        x, y = split_arrays(train)
        model.fit(x, y)
        row: dict[str, float] = {"epoch": 1, "step": 1}
        for split in ("train", "val"):
            if split in fold.split_names:
                arrays = (x, y) if split == "train" else split_arrays(fold.source(split))
                scores = _scores(model, *arrays, settings, getattr(train, "target_inverse", None))
                row.update({f"{split}/{k}": v for k, v in scores.items()})
        row["time"] = time.perf_counter() - start
        return _report(model, row, settings, run_dir)

    def restore_best(self, model: Model, run_dir: Path) -> None:
        del model, run_dir  # fitted once: its only state is the best one

    def evaluate(
        self, model: Model, source: BatchSource, settings: FitSettings
    ) -> dict[str, float]:
        x, y = split_arrays(source)
        return _scores(model, x, y, settings, getattr(source, "target_inverse", None))

    def outputs(self, model: Model, source: BatchSource, *, batch_size: int) -> np.ndarray:
        del batch_size  # the estimator takes the split whole
        return np.asarray(model.predict(split_arrays(source)[0]))


def _report(
    model: Model, row: dict[str, float], settings: FitSettings, run_dir: Path | None
) -> FitResult:
    """The one epoch as the loop reports one: callbacks, ``metrics.jsonl``, a result."""
    monitor = settings.config.monitor.metric
    context = FitContext(run_dir, False, 0, 1, 0, [], None, monitor)
    call(settings.callbacks, "on_fit_start", context)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        rewrite_jsonl(RunDir(run_dir).metrics, [row])
    call(settings.callbacks, "on_epoch_end", row)
    result = FitResult(
        module=model,
        history=[row],
        best_metric=row.get(monitor),
        best_epoch=1,
        monitor=monitor,
        global_step=1,
        run_dir=run_dir,
        tracker_run_id=context.tracker_run_id,
    )
    call(settings.callbacks, "on_fit_end", result)
    return result


def split_arrays(source: BatchSource) -> tuple[np.ndarray, np.ndarray]:
    """A split as ``(X, y)`` arrays, after the fitted transforms: what an estimator's ``fit``
    takes. Only a single tabular input ``x`` can be handed over this way."""
    order = np.arange(len(source))
    batch = next(iter(source.iter_batches(order, max(len(source), 1))))
    inputs = sorted(set(batch) - {"target", "weight", "index", "mask"})
    if inputs != ["x"]:
        raise TrainspecError(
            f"scikit-learn models take one tabular input 'x'; this data has inputs {inputs}: "
            "map the features to one input (data.features) or use a torch model"
        )
    return batch["x"].numpy(), batch["target"].numpy()


def _scores(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    settings: FitSettings,
    inverse: Callable[[np.ndarray], np.ndarray] | None,
) -> dict[str, float]:
    """The job's metrics (accuracy or rmse by default) of the model on ``(x, y)``; with
    ``data.target_transform``, in the target's own units (``inverse`` maps scaled values
    back)."""
    default = ["accuracy"] if settings.task == "classification" else ["rmse"]
    metrics = list(settings.config.metrics) or default
    if inverse is None:
        return model.evaluate(x, y, metrics)
    resolved = [get_metric(m, allow=settings.allow_imports) for m in metrics]
    y_pred = inverse(np.asarray(model.predict(x)))
    return compute_metrics(resolved, inverse(np.asarray(y)), y_pred, None)


_TRAINERS: dict[str, Trainer] = {"torch": TorchTrainer(), "sklearn": EstimatorTrainer()}


def trainer_for(model: Model) -> Trainer:
    """The trainer of ``model``'s kind."""
    trainer = _TRAINERS.get(getattr(model, "kind", ""))
    if trainer is None:
        raise TrainingError(
            f"no trainer for {model!r} (kind {getattr(model, 'kind', None)!r}): the engine "
            f"trains the kinds {', '.join(sorted(_TRAINERS))}"
        )
    return trainer
