"""The task (classification or regression), label encoding, and balancing weights."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from trainspec.data._batch import IGNORE_INDEX
from trainspec.data._table import Assembled
from trainspec.errors import DataError

__all__ = [
    "IGNORE_INDEX",
    "Labels",
    "ResolvedTask",
    "balance_weights",
    "balanced_class_weights",
    "encode_target",
    "resolve_task",
]

log = logging.getLogger(__name__)

ResolvedTask = Literal["classification", "regression"]
_MAX_INT_CLASSES = 50
_MAX_FLOAT_CLASSES = 20


@dataclass
class Labels:
    task: ResolvedTask
    values: np.ndarray  # int64 codes (IGNORE_INDEX = unlabelled) or float32 targets
    class_names: list[str] | None = None
    # The raw label of each class, as text, when it differs from its name (integer codes with
    # names from the source, e.g. stage 0..4 named W..REM); inference encodes new data by it.
    class_values: list[str] | None = None

    @property
    def num_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)

    def labelled(self) -> np.ndarray:
        if self.task == "classification":
            return np.asarray(self.values != IGNORE_INDEX)
        finite = np.isfinite(self.values)
        return np.asarray(finite.reshape(len(finite), -1).all(axis=1))


def _ignored(target: np.ndarray, ignore: Sequence[int | str]) -> np.ndarray:
    if not ignore:
        return np.zeros(len(target), dtype=bool)
    if target.dtype.kind in "US":
        return np.isin(target, [str(v) for v in ignore])
    numeric = [v for v in ignore if isinstance(v, int)]
    return np.isin(target, numeric)


def resolve_task(target: np.ndarray, task: str, ignore: Sequence[int | str] = ()) -> ResolvedTask:
    """``auto``: labels for strings, booleans and few distinct integers; otherwise regression."""
    if task in ("classification", "regression"):
        return "classification" if task == "classification" else "regression"
    if target.ndim > 1 and target.shape[1] > 1:
        return "regression"
    values = target.reshape(len(target))[~_ignored(target.reshape(len(target)), ignore)]
    kind = values.dtype.kind
    if kind in "OUSb":
        return "classification"
    if kind in "iu":
        return "classification" if len(np.unique(values)) <= _MAX_INT_CLASSES else "regression"
    finite = values[np.isfinite(values)]
    integral = bool(np.all(finite == np.round(finite)))
    few = len(np.unique(finite)) <= _MAX_FLOAT_CLASSES
    return "classification" if integral and few else "regression"


def encode_target(data: Assembled, task: str, ignore: Sequence[int | str] = ()) -> Labels:
    target = data.target
    assert target is not None
    name = data.target_name or "target"
    if task == "regression":
        if target.dtype.kind not in "biuf":
            raise DataError(
                f"data.target {name!r} holds {target.dtype} values, which a regression cannot "
                "use; set task: classification or pick a numeric target"
            )
        values = target.astype(np.float32)
        bad = ~np.isfinite(values)
        if bad.any():
            rows = int(bad.reshape(len(bad), -1).any(axis=1).sum())
            raise DataError(
                f"data.target {name!r} has {rows} rows with NaN or infinite values; "
                "drop those rows from the source"
            )
        return Labels("regression", values)
    if target.ndim > 1:
        raise DataError(
            f"data.target {name!r} has shape {target.shape}; classification needs "
            "one label per sample or row"
        )
    ignored = _ignored(target, ignore)
    if target.dtype.kind == "f":
        missing = ~np.isfinite(target) & ~ignored
        if missing.any():
            raise DataError(
                f"data.target {name!r} has {int(missing.sum())} missing (NaN) labels; drop those "
                "rows or list their value under data.ignore_labels"
            )
    classes = np.unique(target[~ignored])
    codes = np.full(len(target), IGNORE_INDEX, dtype=np.int64)
    # Class names from the source: scikit-learn's target_names, or a ``<target>_names`` file
    # attribute (e.g. ``stage_names`` for ``stage``). Integer labels 0..K-1 with K names keep
    # their codes even when a class is absent from this data (a cohort without N3), so that a
    # model trained on one source reads another the same way.
    meta_names = data.meta.get("class_names") or data.meta.get(f"{name}_names")
    if (
        meta_names
        and classes.dtype.kind in "iu"
        and len(classes) > 0
        and classes.min() >= 0
        and classes.max() < len(meta_names)
    ):
        codes[~ignored] = target[~ignored].astype(np.int64)
        names = [str(n) for n in meta_names]
        raw_values = [str(i) for i in range(len(names))]
        return Labels("classification", codes, names, raw_values)
    codes[~ignored] = np.searchsorted(classes, target[~ignored])
    names = [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    return Labels("classification", codes, names)


def balance_weights(data: Assembled, labels: Labels, balance: str) -> np.ndarray:
    """Per-sample weights that equalise groups or classes, mean 1 over labelled rows."""
    labelled = labels.labelled()
    if data.target_per_row():
        assert data.offsets is not None
        per_sample = np.add.reduceat(labelled.astype(np.int64), data.offsets[:-1])
        per_sample[np.diff(data.offsets) == 0] = 0
    else:
        per_sample = labelled.astype(np.int64)
    if balance == "group":
        if data.groups is None:
            raise DataError("data.weight.balance: group needs data.group to name the group key")
        keys = data.groups
    else:
        if data.target_per_row() or labels.task != "classification":
            raise DataError(
                "data.weight.balance: class needs one class label per sample; for sequence "
                "labels use train.loss.class_weights: balanced"
            )
        keys = labels.values
    uniques, inverse = np.unique(keys, return_inverse=True)
    counts = np.bincount(inverse, weights=per_sample, minlength=len(uniques))
    weights = np.where(counts[inverse] > 0, 1.0 / np.maximum(counts[inverse], 1), 0.0)
    total = float((weights * per_sample).sum())
    if total > 0:
        weights *= per_sample.sum() / total
    return weights.astype(np.float32)


def balanced_class_weights(
    targets: np.ndarray, num_classes: int, *, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """One loss weight per class: scikit-learn's ``class_weight='balanced'``.

    Over the classes that occur in ``targets`` (``ignore_index`` left out) the weights are
    ``compute_class_weight('balanced')``'s, n / (k * count), k the classes that occur, so they
    average 1 over the samples. A class that never occurs gets 1: it adds no term to the loss
    on these targets, and 1 leaves it unweighted where it does occur (a validation split).
    scikit-learn itself refuses such a class; a warning names it instead.
    """
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.asarray(targets).ravel()
    labels = labels[labels != ignore_index].astype(np.int64)
    outside = labels[(labels < 0) | (labels >= num_classes)]
    if outside.size:
        raise DataError(
            f"class weights: label {int(outside[0])} is outside 0..{num_classes - 1} for "
            f"{num_classes} classes; labels must be class codes"
        )
    weights = np.ones(num_classes, dtype=np.float64)
    present = np.unique(labels)
    if present.size:
        weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    absent = sorted(set(range(num_classes)) - {int(c) for c in present})
    if absent:
        log.warning(
            "balanced class weights: classes %s never occur in the targets; they get weight 1",
            absent,
        )
    return weights
