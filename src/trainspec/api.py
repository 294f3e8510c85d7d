"""``train_model(X, y, config)``: model logic only, with no run directory, tracker or sweep."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trainspec.errors import TrainspecError
from trainspec.spec import JobSpec, load_spec

if TYPE_CHECKING:
    from trainspec.data import FoldData, PreparedData
    from trainspec.models import Model

__all__ = ["build_job_model", "split_arrays", "train_model"]


def build_job_model(job: JobSpec, prepared: PreparedData) -> Model:
    """The job's model, sized by the prepared data's input shapes and task."""
    from trainspec.models import build_model

    return build_model(
        job.model,
        input_shapes=prepared.input_shapes,
        allow_imports=job.allow_imports,
        seed=job.seed,
        task=prepared.task,
        fields=prepared.batch_fields,
    )


def split_arrays(fold: FoldData, name: str) -> tuple[Any, Any]:
    """One split as ``(X, y)`` arrays, after the fitted transforms: what an estimator's
    ``fit`` takes. Only a single tabular input ``x`` can be handed over this way."""
    import numpy as np

    source = fold.source(name)
    order = np.arange(len(source))
    batch = next(iter(source.iter_batches(order, max(len(source), 1))))
    inputs = sorted(set(batch) - {"target", "weight", "index", "mask"})
    if inputs != ["x"]:
        raise TrainspecError(
            f"scikit-learn models take one tabular input 'x'; this data has inputs {inputs}: "
            "map the features to one input (data.features) or use a torch model"
        )
    return batch["x"].numpy(), batch["target"].numpy()


def _job_from_config(config: Mapping[str, Any] | JobSpec) -> JobSpec:
    if isinstance(config, JobSpec):
        if config.data.source.type != "arrays":
            raise TrainspecError(
                "train_model takes the data as arguments: its config's data.source must be "
                f"{{type: arrays}}, not {config.data.source.type!r}; use run_experiment for "
                "data named in the spec"
            )
        return config
    raw = dict(config)
    data = dict(raw.get("data") or {})
    data.setdefault("source", {"type": "arrays"})
    # The caller split the data already: train on all of it unless the config asks otherwise.
    data.setdefault("split", {"method": "holdout", "ratios": {"train": 1.0}})
    raw["data"] = data
    loaded = load_spec(raw)
    assert loaded.job is not None
    return _job_from_config(loaded.job)


def train_model(X: Any, y: Any, config: Mapping[str, Any] | JobSpec) -> Model:
    """Fit the model the config describes on ``(X, y)`` and return it.

    ``config`` is a job spec as a mapping (``model`` and ``train`` sections; ``data`` optional)
    or a ``JobSpec``. ``X`` is an array, a DataFrame or a dict of named arrays. Nothing is
    written to disk; the returned model predicts with the fitted transforms applied.
    """
    from trainspec.data import prepare_data
    from trainspec.engine import fit, resolve_device
    from trainspec.models import SklearnModel, TorchModel

    job = _job_from_config(config)
    prepared = prepare_data(
        job.data, seed=job.seed, task=job.task, allow_imports=job.allow_imports, arrays=(X, y)
    )
    fold = prepared.fold(0)
    model = build_job_model(job, prepared)
    if isinstance(model, SklearnModel):
        x_train, y_train = split_arrays(fold, "train")
        model.fit(x_train, y_train)
        model.attach_transforms(fold.transforms)
        return model
    assert isinstance(model, TorchModel)
    fit(
        model.module,
        train=fold.source("train", train=True, device=resolve_device(job.train.device)),
        val=fold.source("val") if "val" in fold.split_names else None,
        config=job.train,
        task=prepared.task,
        num_classes=prepared.num_classes,
        seed=job.seed,
        forward=model.forward_with,
        allow_imports=job.allow_imports,
        output_kind=model.output_kind,
    )
    model.attach_transforms(fold.transforms)
    return model
