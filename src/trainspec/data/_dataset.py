"""A user's ``torch.utils.data.Dataset`` (by import path) as a source.

Roles name attributes of the instance: ``target`` defaults to ``targets`` or ``labels`` and
otherwise the labels are read once through ``__getitem__``; ``group`` / ``id`` / ``weight``
name per-sample attributes. Items are ``(inputs, target)``, ``(inputs, target, weight)`` or a
dict with a ``target`` key; ``inputs`` is a tensor (served as ``x``) or a dict of named inputs.
Only augmentations apply: the Dataset does its own preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainspec.data._batch import BatchSource
from trainspec.data._labels import IGNORE_INDEX, Labels
from trainspec.data._loaders import DatasetBatchSource
from trainspec.data._pipeline import FittedTransforms
from trainspec.data._sources import SourceContext, content_hash
from trainspec.data._splits import SplitInput, plan_splits, split_problems
from trainspec.data._table import Assembled, InputArray
from trainspec.data._transforms import build_steps
from trainspec.data._types import FoldData, PreparedData
from trainspec.errors import DataError
from trainspec.registry import Entry, import_object, instantiate
from trainspec.spec import DataSpec

__all__ = ["DatasetInfo", "load_dataset", "prepare_dataset"]


@dataclass
class DatasetInfo:
    dataset: Any
    collate_fn: Callable[[list[Any]], Any] | None
    targets: np.ndarray
    groups: np.ndarray | None
    ids: np.ndarray | None
    first: Any


def _instantiate(spec: Any, allow: tuple[str, ...]) -> Any:
    entry = Entry(
        "dataset",
        spec.target,
        dict(spec.params),
        ("data", "source", "params"),
        ("data", "source", "target"),
    )
    dataset = instantiate("dataset", entry, entry.path, allow=allow)
    for dunder in ("__len__", "__getitem__"):
        if not hasattr(dataset, dunder):
            raise DataError(
                f"data.source.target ({spec.target}): a map-style Dataset needs {dunder}; it "
                "has none"
            )
    return dataset


def _item_target(item: Any) -> Any:
    if isinstance(item, dict):
        return item.get("target")
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        return item[1]
    raise DataError(
        f"Dataset items must be (inputs, target[, weight]) or a dict; got {type(item).__name__}"
    )


def _attribute(dataset: Any, name: str, role: str, n: int) -> np.ndarray:
    if not hasattr(dataset, name):
        public = [a for a in dir(dataset) if not a.startswith("_")]
        raise DataError(f"{role}: the Dataset has no attribute {name!r}; it has {public}")
    values = np.asarray(getattr(dataset, name))
    if len(values) != n:
        raise DataError(f"{role}: attribute {name!r} has {len(values)} values for {n} samples")
    return values


def load_dataset(spec: DataSpec, ctx: SourceContext) -> DatasetInfo:
    dataset = _instantiate(spec.source, ctx.allow_imports)
    n = len(dataset)
    if n == 0:
        raise DataError(f"the Dataset {spec.source.target!r} (data.source.target) is empty")  # type: ignore[union-attr]
    first = dataset[0]
    if spec.target:
        targets = _attribute(dataset, spec.target, "data.target", n)
    elif hasattr(dataset, "targets") or hasattr(dataset, "labels"):
        name = "targets" if hasattr(dataset, "targets") else "labels"
        targets = _attribute(dataset, name, "data.target", n)
    else:
        targets = np.asarray([np.asarray(_item_target(dataset[i])) for i in range(n)])
    collate = spec.source.collate_fn  # type: ignore[union-attr]
    return DatasetInfo(
        dataset=dataset,
        collate_fn=None
        if collate is None
        else import_object(collate, ("data", "source", "collate_fn"), ctx.allow_imports),
        targets=targets,
        groups=None if spec.group is None else _attribute(dataset, spec.group, "data.group", n),
        ids=None if spec.id is None else _attribute(dataset, spec.id, "data.id", n),
        first=first,
    )


def _labels(info: DatasetInfo, task: str) -> Labels:
    from trainspec.data._labels import resolve_task

    resolved = resolve_task(info.targets, task)
    if resolved == "regression":
        return Labels("regression", info.targets.astype(np.float32))
    codes = info.targets.astype(np.int64).reshape(-1)
    labelled = codes[codes != IGNORE_INDEX]
    if labelled.size and labelled.min() < 0:
        raise DataError(
            f"Dataset labels must be 0..K-1 (or {IGNORE_INDEX}); found {labelled.min()}"
        )
    k = int(labelled.max()) + 1 if labelled.size else 0
    names = getattr(info.dataset, "classes", None)
    class_names = (
        [str(c) for c in names]
        if names is not None and len(names) == k
        else [str(c) for c in range(k)]
    )
    return Labels("classification", codes, class_names)


def _shapes(first: Any) -> dict[str, tuple[int | None, ...]]:
    import torch

    inputs = first if isinstance(first, dict) else first[0]
    if not isinstance(inputs, dict):
        inputs = {"x": inputs}
    return {
        k: tuple(int(d) for d in torch.as_tensor(v).shape)
        for k, v in inputs.items()
        if k not in ("target", "weight", "mask", "index")
    }


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def prepare_dataset(spec: DataSpec, ctx: SourceContext, *, seed: int, task: str) -> PreparedData:
    info = load_dataset(spec, ctx)
    shapes = _shapes(info.first)
    steps = build_steps(spec.transforms, list(shapes), ctx.allow_imports)
    if any(s.stage != "augment" for s in steps):
        bad = next(s for s in steps if s.stage != "augment")
        raise DataError(
            f"{bad.where()}: a Dataset source takes augmentations only; do the {bad.stage} "
            "preprocessing inside the Dataset"
        )
    labels = _labels(info, task)
    n = len(info.targets)
    per_sample = labels.task == "classification" and labels.values.ndim == 1
    split_in = SplitInput(n=n, labels=labels.values if per_sample else None, groups=info.groups)
    plan = plan_splits(spec.split, split_in, seed)
    plan.ids = info.ids
    stub = Assembled(inputs={"x": InputArray(np.zeros((n, 0)))}, n_samples=n)
    errors, _ = split_problems(plan, stub, labels)
    if errors:
        raise DataError("\n".join(["the data cannot be used as configured:", *errors]))
    transforms = FittedTransforms(
        spec.transforms, [], input_names=list(shapes), allow_imports=ctx.allow_imports
    )
    for aug, names in transforms.augmentations:  # the model sees shapes after a crop
        for name in names:
            shapes[name] = aug.out_shape(shapes[name])
    transforms.info.update(
        task=labels.task,
        class_names=labels.class_names,
        input_shapes={k: list(v) for k, v in shapes.items()},
    )

    def build(fold: Mapping[str, np.ndarray], where: str) -> FoldData:

        def make(name: str, train: bool) -> BatchSource:
            return DatasetBatchSource(
                info.dataset,
                fold[name],
                task=labels.task,
                collate_fn=info.collate_fn,
                num_workers=spec.loader.num_workers,
                pin_memory=spec.loader.pin_memory and _cuda(),
                augment=transforms.augmentations,
                train=train,
            )

        train_labels = labels.values[fold["train"]] if per_sample else None
        return FoldData(list(fold), dict(fold), transforms, make, train_labels, labels.num_classes)

    return PreparedData(
        task=labels.task,
        num_classes=labels.num_classes,
        class_names=labels.class_names,
        input_shapes=shapes,
        fingerprint=content_hash(spec.source, ctx),
        n_samples=n,
        splits=plan,
        cache_hit=False,
        _build=build,
    )
