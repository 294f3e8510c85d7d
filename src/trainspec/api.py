"""``train_model(X, y, config)``: model logic only, with no run directory, tracker or sweep."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainspec.errors import TrainspecError
from trainspec.spec import JobSpec, load_spec

if TYPE_CHECKING:
    from trainspec.data import DataShapes, FoldData, PreparedData
    from trainspec.engine import EpochLines, FinetunePlan, FitSettings
    from trainspec.models import Model

# A fraction of (X, y), or a validation set (X_val, y_val) of X's and y's kinds.
Validation = float | tuple[Any, Any] | None

__all__ = ["JobFit", "JobModel", "build_job_model", "job_model", "job_settings", "train_model"]


def build_job_model(job: JobSpec, prepared: PreparedData | DataShapes) -> Model:
    """The job's model, sized by the prepared data's input shapes and task (or by those of
    its first rows, ``sample_shapes``)."""
    from trainspec.models import build_model

    model = build_model(
        job.model,
        input_shapes=prepared.input_shapes,
        allow_imports=job.allow_imports,
        seed=job.seed,
        task=prepared.task,
        fields=prepared.batch_fields,
    )
    if model.kind == "torch" and job.data.source.type == "arrays":
        model.fit_fn = JobFit(job)  # type: ignore[attr-defined]
    return model


class JobFit:
    """``fit(X, y)`` of a network built for a job whose data comes as arguments: what
    ``train_model(X, y, job)`` does, on this model. The job's data section (transforms,
    target transform, split) is fitted on ``(X, y)`` and its transforms replace the model's;
    the network trains on from its current weights, as Keras' ``fit`` or a scikit-learn
    pipeline with ``warm_start`` do. The engine's trainer does the training."""

    def __init__(self, config: Mapping[str, Any] | JobSpec) -> None:
        self.config = config

    def __call__(
        self, model: Model, X: Any, y: Any, *, validation: Validation = None, verbose: bool = False
    ) -> None:
        _train(X, y, self.config, validation, verbose, model=model)


@dataclass
class JobModel:
    """A job's data, its model built on it, and what the ``finetune:`` section did to it."""

    prepared: PreparedData
    model: Model
    finetune: FinetunePlan | None


def job_model(job: JobSpec, *, load_weights: bool = True) -> JobModel:
    """Prepare the job's data, build its model and apply its ``finetune:`` section as a run
    does before training (by the model's trainer), training nothing. ``load_weights=False``
    applies the patterns and groups without reading the initial weights. A model that cannot
    be fine-tuned under a ``finetune:`` section is a ``SpecError`` naming the section."""
    from trainspec.data import prepare_data
    from trainspec.engine import trainer_for

    prepared = prepare_data(job.data, seed=job.seed, task=job.task, allow_imports=job.allow_imports)
    model = build_job_model(job, prepared)
    settings = job_settings(job, prepared)
    trainer = trainer_for(model)
    plan = trainer.prepare(
        model, settings, run_dir=None, load="weights" if load_weights else "none"
    )
    return JobModel(prepared, model, plan)


def job_settings(job: JobSpec, prepared: PreparedData | DataShapes, **more: Any) -> FitSettings:
    """What every fit of the job shares; ``more`` sets other fields of ``FitSettings`` (the
    callbacks, the resume checks) or replaces these."""
    from trainspec.engine import FitSettings

    fields: dict[str, Any] = {
        "config": job.train,
        "task": prepared.task,
        "num_classes": getattr(prepared, "num_classes", None),
        "seed": job.seed,
        "allow_imports": tuple(job.allow_imports),
        "finetune": job.finetune,
    }
    return FitSettings(**{**fields, **more})


def _check_validation(validation: Validation) -> None:
    from trainspec.data import ValidationTypeError, ValidationValueError

    if validation is None or isinstance(validation, tuple | list):
        return  # a validation set: join_validation checks it
    if isinstance(validation, bool) or not isinstance(validation, int | float):
        raise ValidationTypeError(
            f"train_model: validation must be a fraction of (X, y) between 0 and 1, such as "
            f"0.2, or a validation set (X_val, y_val); got {type(validation).__name__} "
            f"{validation!r}"
        )
    if not 0.0 < validation < 1.0:
        raise ValidationValueError(
            f"train_model: validation must be a fraction of (X, y) strictly between 0 and 1, "
            f"such as 0.2; got {validation!r}"
        )


def _job_from_config(config: Mapping[str, Any] | JobSpec, validation: Validation = None) -> JobSpec:
    _check_validation(validation)
    if isinstance(config, JobSpec):
        if config.data.source.type != "arrays":
            raise TrainspecError(
                "train_model takes the data as arguments: its config's data.source must be "
                f"{{type: arrays}}, not {config.data.source.type!r}; use run_experiment for "
                "data named in the spec"
            )
        if validation is None:
            return config
        _refuse_two_splits("split" in config.data.model_fields_set, validation)
        split = type(config.data.split)(**_split(validation))
        return config.model_copy(update={"data": config.data.model_copy(update={"split": split})})
    raw = dict(config)
    data = dict(raw.get("data") or {})
    data.setdefault("source", {"type": "arrays"})
    if validation is not None:
        _refuse_two_splits("split" in data, validation)
        # Stratified by class for classification (holdout otherwise), seeded by the job's seed.
        data["split"] = _split(validation)
    # The caller split the data already: train on all of it unless the config asks otherwise.
    data.setdefault("split", {"method": "holdout", "ratios": {"train": 1.0}})
    raw["data"] = data
    loaded = load_spec(raw)
    assert loaded.job is not None
    return _job_from_config(loaded.job)


def _split(validation: Validation) -> dict[str, Any]:
    """The ``data.split`` a validation fraction or validation set stands for."""
    if isinstance(validation, int | float):
        return {"ratios": {"train": 1.0 - validation, "val": validation}}
    from trainspec.data import validation_split

    return validation_split()


def _refuse_two_splits(has_split: bool, validation: Validation) -> None:
    if has_split:
        given = "a validation set" if isinstance(validation, tuple | list) else validation
        raise TrainspecError(
            "train_model: the validation split is given twice, by the config's data.split and "
            f"by validation={given!r}; keep one of them"
        )


def train_model(
    X: Any,
    y: Any,
    config: Mapping[str, Any] | JobSpec,
    *,
    validation: Validation = None,
    verbose: bool = False,
) -> Model:
    """Fit the model the config describes on ``(X, y)`` and return it.

    ``config`` is a job spec as a mapping (``model`` and ``train`` sections; ``data`` optional)
    or a ``JobSpec``. ``X`` is an array, a DataFrame or a dict of named arrays. Nothing is
    written to disk; the returned model predicts with the fitted transforms applied.

    By default every sample of ``(X, y)`` trains the model (no validation split; the caller
    split the data already), unless the config's ``data.split`` says otherwise.
    ``validation=0.2`` holds out that fraction of ``(X, y)`` as a validation split
    (stratified by class for classification, drawn with the config's seed); the transforms
    are fitted on the rest, and every epoch is scored on it (``val/loss``, ``val/<metric>``).
    ``validation=(X_val, y_val)`` is a validation set of your own, of X's and y's kinds (an
    array, a DataFrame with X's columns, or a dict with X's keys): the transforms are fitted
    on ``(X, y)`` alone, and every epoch, early stopping and the history are scored on
    exactly those rows. A wrong type is a ``TypeError``; rows, shapes or columns that do not
    match ``X`` and ``y`` are a ``ValueError``.

    ``verbose=True`` writes one line per epoch to stderr, as ``trainspec train`` does
    (the epoch, the monitored metric, the losses and metrics); by default it is quiet unless
    the config sets ``train.progress``.

    ``model.history`` holds one dict per epoch of what was logged (``epoch``, ``train/loss``,
    ``val/...``, ``lr``, ``time``). A scikit-learn estimator is fitted once: its history is
    one row with its ``train/`` (and ``val/``) metrics.
    """
    return _train(X, y, config, validation, verbose)


def _train(
    X: Any,
    y: Any,
    config: Mapping[str, Any] | JobSpec,
    validation: Validation,
    verbose: bool,
    *,
    model: Model | None = None,
) -> Model:
    """``train_model``: the job's data prepared from ``(X, y)``, its model built (or
    ``model`` trained on), the fitted transforms attached; the model's ``fit`` does the same
    again with ``config``."""
    from trainspec.data import prepare_data
    from trainspec.engine import EpochLines

    job = _job_from_config(config, validation)

    if isinstance(validation, tuple | list):
        from trainspec.data import join_validation

        X, y = join_validation(X, y, validation)
    prepared = prepare_data(
        job.data, seed=job.seed, task=job.task, allow_imports=job.allow_imports, arrays=(X, y)
    )
    lines = EpochLines() if verbose else None
    if "progress" not in job.train.model_fields_set:
        job = job.model_copy(update={"train": job.train.model_copy(update={"progress": "none"})})
    if model is None:
        model = build_job_model(job, prepared)
    else:
        _check_inputs(getattr(model, "input_shapes", {}), prepared.input_shapes)
    fold = prepared.fold(0)
    model.history = _fit(model, job, prepared, fold, lines)
    model.attach_transforms(fold.transforms)
    if model.kind == "torch":
        model.fit_fn = JobFit(config)  # type: ignore[attr-defined]
    return model


def _check_inputs(built: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    built_for = {k: tuple(v) for k, v in built.items()}
    data = {k: tuple(v) for k, v in given.items()}
    if built_for != data:
        raise TrainspecError(
            f"fit: the data has inputs {data}, but the model was built for {built_for}; pass "
            "data with the model's inputs and shapes"
        )


def _fit(
    model: Model, job: JobSpec, prepared: PreparedData, fold: FoldData, lines: EpochLines | None
) -> list[dict[str, float]]:
    from trainspec.engine import trainer_for

    settings = job_settings(job, prepared, callbacks=[lines] if lines is not None else ())
    result = trainer_for(model).fit(model, fold, settings)
    return [dict(row) for row in result.history]
