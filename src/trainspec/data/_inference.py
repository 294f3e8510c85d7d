"""New data for a trained model: the run's ``data:`` spec, its saved transforms, no splits.

The source may lack the target (plain prediction); when it has it, labels are encoded with the
training classes so predictions can be scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainspec.data._assemble import assemble
from trainspec.data._batch import IGNORE_INDEX, BatchSource
from trainspec.data._pipeline import FittedTransforms, apply_signal
from trainspec.data._sources import SourceContext, get_source
from trainspec.errors import DataError
from trainspec.spec import DataSpec

__all__ = ["InferenceData", "encode_labels", "prepare_inference"]


@dataclass
class InferenceData:
    source: BatchSource  # every sample, evaluation path (no augmentation)
    n_samples: int
    ids: np.ndarray | None  # (N,) the id key's values, if the spec names one
    has_target: bool


def encode_labels(target: np.ndarray, transforms: FittedTransforms) -> np.ndarray:
    """Raw targets as the run's training codes (classes it never saw: ``IGNORE_INDEX``)."""
    if transforms.info.get("task") != "classification":
        return target.astype(np.float32)
    names = [str(n) for n in transforms.info.get("class_names") or []]
    values = transforms.info.get("class_values") or names
    lookup = {str(v): i for i, v in enumerate(values)}
    raw = [str(v.item() if isinstance(v, np.generic) else v) for v in target]
    return np.asarray([lookup.get(v, IGNORE_INDEX) for v in raw], dtype=np.int64)


def prepare_inference(
    spec: DataSpec,
    transforms: FittedTransforms,
    *,
    allow_imports: Sequence[str] = (),
    arrays: tuple[Any, Any] | None = None,
) -> InferenceData:
    """Load ``spec.source`` (point it at the new file), map it as at training, serve it."""
    import torch

    from trainspec.data._loaders import TensorBatchSource

    if spec.source.type == "dataset":
        raise DataError(
            "prepare_inference serves table, array and record sources; for a "
            "Dataset source iterate the Dataset directly"
        )
    ctx = SourceContext(tuple(allow_imports), arrays, on_bad=spec.on_bad)
    table = get_source(spec.source.type).load(spec.source, ctx)
    target_key = spec.target or table.meta.get("default_target")
    keep_target = target_key is not None and target_key in table.names()
    weight_key = spec.weight if isinstance(spec.weight, str) else None
    update: dict[str, Any] = {
        "target": target_key if keep_target else None,
        "weight": weight_key if weight_key in table.names() else None,
        "split": spec.split.model_copy(update={"column": None}),
    }
    if not keep_target:
        table.meta.pop("default_target", None)
    data = apply_signal(transforms.steps, assemble(spec.model_copy(update=update), table))
    inputs = transforms.transform(data)
    target = None
    if keep_target and data.target is not None:
        dtype = torch.int64 if transforms.info.get("task") == "classification" else torch.float32
        target = torch.from_numpy(encode_labels(data.target, transforms)).to(dtype)
    source = TensorBatchSource(
        {k: torch.from_numpy(v) for k, v in inputs.items()},
        positions=np.arange(data.n_samples),
        target=target,
        weight=None if data.weights is None else torch.from_numpy(data.weights),
        offsets=data.offsets,
        augment=transforms.augmentations,
        train=False,
    )
    return InferenceData(source, data.n_samples, data.ids, target is not None)
