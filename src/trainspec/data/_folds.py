"""Folds of in-memory data: fit the transforms on the training rows, serve tensors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from trainspec.data._batch import BatchSource
from trainspec.data._loaders import TensorBatchSource
from trainspec.data._mapped import MappedBatchSource
from trainspec.data._pipeline import FittedTransforms, to_model_input
from trainspec.data._target import TargetTransform
from trainspec.data._types import FoldData, Loaded, input_names
from trainspec.errors import DataError
from trainspec.spec import DataSpec

if TYPE_CHECKING:
    import torch

__all__ = ["fold_builder"]


def _input_shapes(
    arrays: dict[str, np.ndarray], sequence: bool, transforms: FittedTransforms
) -> dict[str, list[int | None]]:
    shapes: dict[str, tuple[int | None, ...]] = {}
    for name, values in arrays.items():
        shape: tuple[int | None, ...] = tuple(int(d) for d in values.shape[1:])
        shapes[name] = (None, *shape) if sequence else shape
    for aug, names in transforms.augmentations:
        for name in names:
            shapes[name] = aug.out_shape(shapes[name])
    return {k: list(v) for k, v in shapes.items()}


def _target_transform(spec: DataSpec, task: str) -> TargetTransform | None:
    steps = spec.target_transform
    if not steps:
        return None
    if task != "regression":
        raise DataError(
            f"data.target_transform {steps!r} rescales a regression target, but the target is "
            "read as class labels; set task: regression or remove data.target_transform"
        )
    return TargetTransform([steps] if isinstance(steps, str) else list(steps))


def fold_builder(
    spec: DataSpec, loaded: Loaded, allow: Sequence[str]
) -> Callable[[Mapping[str, np.ndarray], str], FoldData]:
    import torch

    data, labels = loaded.data, loaded.labels
    per_row_target = data.target_per_row() or not data.is_sequence
    target_dtype = torch.int64 if labels.task == "classification" else torch.float32
    target_all = torch.from_numpy(np.ascontiguousarray(labels.values)).to(target_dtype)

    def build(fold: Mapping[str, np.ndarray], where: str) -> FoldData:
        train_rows = data.rows_of(fold["train"])
        target_k, inverse = target_all, None
        tt = _target_transform(spec, labels.task)
        if tt is not None:
            train_y = labels.values[train_rows if per_row_target else fold["train"]]
            tt.fit(train_y, where=f"the training split of {where}")
            target_k = torch.from_numpy(tt.transform(labels.values))
            inverse = tt.inverse
        transforms, mapped = FittedTransforms.fit(
            loaded.steps, data, train_rows, allow_imports=allow, input_names=input_names(spec)
        )
        # Inputs still mapped once fitted (no fitted step read them) are read batch by batch.
        lazy = data.offsets is None and all(mapped[n].is_mapped for n in transforms.model_inputs)
        arrays = (
            {name: mapped[name].values for name in transforms.model_inputs}
            if lazy
            else {name: to_model_input(name, mapped[name]) for name in transforms.model_inputs}
        )
        transforms.info.update(
            task=labels.task,
            class_names=labels.class_names,
            class_values=labels.class_values,
            target=data.target_name,
            input_shapes=_input_shapes(arrays, data.is_sequence, transforms),
            target_transform=None if tt is None else tt.to_json(),
        )
        tensors = {} if lazy else {name: torch.from_numpy(a) for name, a in arrays.items()}
        weights = None if data.weights is None else torch.from_numpy(data.weights)
        row_weight = data.has_row_weights

        def make(name: str, train: bool) -> BatchSource:
            source = _make(name, train)
            source.target_inverse = inverse
            return source

        def _make(name: str, train: bool) -> TensorBatchSource | MappedBatchSource:
            samples = fold[name]
            if lazy:
                sample_t = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.int64))
                return MappedBatchSource(
                    {n: mapped[n] for n in transforms.model_inputs},
                    rows=samples,
                    target=target_k.index_select(0, sample_t),
                    weight=None if weights is None else weights.index_select(0, sample_t),
                    augment=transforms.augmentations,
                    train=train,
                    pin_memory=spec.loader.pin_memory and torch.cuda.is_available(),
                )
            rows = data.rows_of(samples)
            row_t = torch.from_numpy(rows)
            sample_t = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.int64))
            offsets = None
            if data.offsets is not None:
                lengths = np.diff(data.offsets)[samples]
                offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            target: torch.Tensor = target_k.index_select(0, row_t if per_row_target else sample_t)
            weight_index = row_t if row_weight else sample_t
            return TensorBatchSource(
                {n: t.index_select(0, row_t) for n, t in tensors.items()},
                positions=samples,
                target=target,
                weight=None if weights is None else weights.index_select(0, weight_index),
                row_weight=row_weight,
                offsets=offsets,
                augment=transforms.augmentations,
                train=train,
                pin_memory=spec.loader.pin_memory and torch.cuda.is_available(),
            )

        train_labels = labels.values[train_rows if per_row_target else fold["train"]]
        return FoldData(
            split_names=list(fold),
            indices=dict(fold),
            transforms=transforms,
            _make=make,
            _train_labels=train_labels if labels.task == "classification" else None,
            num_classes=labels.num_classes,
        )

    return build
