"""What preparing data yields: the loaded data (``Loaded``), each fold's splits, transforms
and batch sources (``FoldData``), and the whole (``PreparedData``). Apart from the code that
makes them, which has a path per kind of source (in-memory tables, users' Datasets)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trainspec.data._batch import BatchSource
from trainspec.data._labels import Labels, ResolvedTask, balanced_class_weights
from trainspec.data._pipeline import FittedTransforms
from trainspec.data._splits import SplitPlan
from trainspec.data._table import Assembled
from trainspec.data._transforms import Step
from trainspec.errors import DataError
from trainspec.spec import DataSpec

if TYPE_CHECKING:
    import torch

__all__ = ["FoldData", "Loaded", "PreparedData", "input_names"]


def input_names(spec: DataSpec) -> list[str]:
    return list(spec.inputs) if spec.inputs else ["x"]


@dataclass
class Loaded:
    data: Assembled
    labels: Labels
    steps: list[Step]
    fingerprint: str
    cache_hit: bool


@dataclass
class FoldData:
    """One fold: its splits' indices, transforms fitted on its training split, batch sources."""

    split_names: list[str]
    indices: dict[str, np.ndarray]
    transforms: FittedTransforms
    _make: Callable[[str, bool], BatchSource]
    _train_labels: np.ndarray | None = None
    num_classes: int | None = None

    def source(
        self, name: str, *, train: bool = False, device: torch.device | None = None
    ) -> BatchSource:
        """Split ``name``'s batches; with ``train`` augmented, on ``device`` (the training
        device) when given, so whole-batch augmentations run there."""
        if name not in self.indices:
            raise DataError(f"no split {name!r}; this fold has {', '.join(self.split_names)}")
        made = self._make(name, train)
        if train and device is not None and hasattr(made, "augment_device"):
            made.augment_device = device
        return made

    def class_weights(self) -> np.ndarray:
        """Per-class loss weights of the training split (``balanced_class_weights``)."""
        if self._train_labels is None or not self.num_classes:
            raise DataError("class weights need a classification target")
        return balanced_class_weights(self._train_labels, self.num_classes).astype(np.float32)


@dataclass
class PreparedData:
    """What a job trains on: the task, labels, input shapes, fingerprint and split plan."""

    task: ResolvedTask
    num_classes: int | None
    class_names: list[str] | None
    input_shapes: dict[str, tuple[int | None, ...]]
    fingerprint: str
    n_samples: int
    splits: SplitPlan
    cache_hit: bool
    _build: Callable[[Mapping[str, np.ndarray], str], FoldData]
    _folds: dict[int, FoldData] = field(default_factory=dict)
    bad_files: list[dict[str, str]] = field(default_factory=list)  # left out (on_bad: skip)
    # Batch fields besides the inputs (mask, lengths, weight) -> shape without the batch axis;
    # None: not known (a user's Dataset).
    batch_fields: dict[str, tuple[int | None, ...]] | None = None
    _pending: list[Callable[[], None]] = field(default_factory=list)
    # A few raw training rows (``input_example``); None for records and users' Datasets.
    example: dict[str, Any] | None = None

    def commit_cache(self) -> None:
        """Write the cache entry that ``prepare_data(defer_cache=True)`` held back."""
        while self._pending:
            self._pending.pop(0)()

    def fold(self, k: int = 0) -> FoldData:
        if not 0 <= k < len(self.splits.folds):
            raise DataError(f"fold {k} does not exist; there are {len(self.splits.folds)}")
        if k not in self._folds:
            self._folds[k] = self._build(self.splits.folds[k], f"fold {k}")
        return self._folds[k]

    def refit_fold(self) -> FoldData:
        """All non-test samples as one training split (no validation), the test split kept:
        what ``train.refit`` trains on after cross-validation, transforms fitted afresh."""
        return self._build(self.splits.refit_split(), "the refit (all non-test data)")
