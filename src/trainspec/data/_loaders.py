"""Batch sources: in-memory tensors by batch indexing, user Datasets through ``DataLoader``.

Batch indexing gathers a whole batch with one ``index_select`` per key instead of collating
samples one by one (docs/architecture.md: 0.66 s against 0.95 s for 1,024 small-MLP steps).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trainspec.data._batch import INDEX, MASK, TARGET, WEIGHT, Batch
from trainspec.data._labels import IGNORE_INDEX
from trainspec.data._signal import Augmentation
from trainspec.data._table import row_index
from trainspec.errors import DataError

if TYPE_CHECKING:
    import torch

__all__ = ["AugmentSteps", "DatasetBatchSource", "TensorBatchSource"]

AugmentSteps = Sequence[tuple[Augmentation, Sequence[str]]]


def _chunks(order: np.ndarray, batch_size: int, drop_last: bool) -> Iterator[np.ndarray]:
    order = np.asarray(order, dtype=np.int64)
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def _augment(
    batch: Batch,
    steps: AugmentSteps,
    generator: torch.Generator | None,
    device: torch.device | None = None,
) -> None:
    """Augment in place; training inputs move to ``device`` (the training device) first, so
    whole-batch augmentations run there."""
    for aug, names in steps:
        for name in names:
            if generator is not None:
                if device is not None:
                    batch[name] = batch[name].to(device, non_blocking=True)
                batch[name] = aug.train(batch[name], generator)
            else:
                batch[name] = aug.eval(batch[name])


def _pinned(batch: Batch) -> Batch:
    return {k: v.pin_memory() if v.device.type == "cpu" else v for k, v in batch.items()}


class TensorBatchSource:
    """One split of in-memory data. Samples are rows, or records of rows (padded + masked)."""

    target_inverse: Callable[[np.ndarray], np.ndarray] | None = None  # data.target_transform

    def __init__(
        self,
        inputs: dict[str, torch.Tensor],
        *,
        positions: np.ndarray,
        target: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
        offsets: np.ndarray | None = None,
        augment: AugmentSteps = (),
        train: bool = False,
        pin_memory: bool = False,
        row_weight: bool = False,
    ) -> None:
        self.inputs = inputs
        self.row_weight = row_weight  # weights per row of a record: padded (B, T) with 0
        self.positions = torch_index(positions)  # global sample positions, for ``index``
        self.target = target
        self.weight = weight
        self.offsets = offsets
        self.augment = augment
        self.train = train
        self.pin_memory = pin_memory
        self.augment_device: torch.device | None = None  # set by FoldData.source

    def __len__(self) -> int:
        return len(self.positions)

    def iter_batches(
        self,
        order: np.ndarray,
        batch_size: int,
        *,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[Batch]:
        for idx in _chunks(order, batch_size, drop_last):
            batch = self._gather(idx) if self.offsets is None else self._gather_padded(idx)
            _augment(batch, self.augment, generator if self.train else None, self.augment_device)
            if self.pin_memory:
                batch = _pinned(batch)
            yield batch

    def _gather(self, idx: np.ndarray) -> Batch:
        rows = torch_index(idx)
        batch = {name: t.index_select(0, rows) for name, t in self.inputs.items()}
        if self.target is not None:
            batch[TARGET] = self.target.index_select(0, rows)
        if self.weight is not None:
            batch[WEIGHT] = self.weight.index_select(0, rows)
        batch[INDEX] = self.positions.index_select(0, rows)
        return batch

    def _gather_padded(self, idx: np.ndarray) -> Batch:
        import torch

        assert self.offsets is not None
        lengths = self.offsets[idx + 1] - self.offsets[idx]
        t_max = int(lengths.max()) if len(lengths) else 0
        src = torch_index(row_index(self.offsets, idx))
        b = torch_index(np.repeat(np.arange(len(idx)), lengths))
        t = torch_index(np.arange(len(src)) - np.repeat(np.cumsum(lengths) - lengths, lengths))
        batch: Batch = {}
        for name, x in self.inputs.items():
            padded = x.new_zeros((len(idx), t_max, *x.shape[1:]))  # (B, T, ...)
            padded[b, t] = x.index_select(0, src)
            batch[name] = padded
        mask = torch.zeros((len(idx), t_max), dtype=torch.bool)
        mask[b, t] = True
        batch[MASK] = mask
        rows = torch_index(idx)
        if self.target is not None and len(self.target) == len(self.offsets) - 1:
            batch[TARGET] = self.target.index_select(0, rows)  # one label per record
        elif self.target is not None:
            fill = IGNORE_INDEX if self.target.dtype == torch.int64 else 0.0
            padded = self.target.new_full((len(idx), t_max, *self.target.shape[1:]), fill)
            padded[b, t] = self.target.index_select(0, src)
            batch[TARGET] = padded
        if self.weight is not None and self.row_weight:
            weight = self.weight.new_zeros((len(idx), t_max))
            weight[b, t] = self.weight.index_select(0, src)
            batch[WEIGHT] = weight
        elif self.weight is not None:
            batch[WEIGHT] = self.weight.index_select(0, rows)
        batch[INDEX] = self.positions.index_select(0, rows)
        return batch


def torch_index(values: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.int64))


def _seed_worker(worker_id: int) -> None:
    import torch

    # Each worker's torch seed is base_seed + id (set by DataLoader); derive the others from it.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _to_batch(raw: Any, task: str) -> Batch:
    import torch

    if isinstance(raw, dict):
        batch = dict(raw)
    elif isinstance(raw, (tuple, list)) and len(raw) in (2, 3):
        x = raw[0]
        batch = dict(x) if isinstance(x, dict) else {"x": x}
        batch[TARGET] = raw[1]
        if len(raw) == 3:
            batch[WEIGHT] = raw[2]
    else:
        raise DataError(
            "a Dataset item must be (inputs, target), (inputs, target, weight) or a dict of "
            f"tensors with a 'target' key; the collated batch is a {type(raw).__name__}"
        )
    out: Batch = {}
    for key, value in batch.items():
        tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        if key == TARGET:
            tensor = tensor.long() if task == "classification" else tensor.float()
        elif key != MASK and tensor.is_floating_point():
            tensor = tensor.float()
        out[key] = tensor
    return out


class DatasetBatchSource:
    """One split of a user's map-style Dataset, served by a ``DataLoader``."""

    def __init__(
        self,
        dataset: Any,
        positions: np.ndarray,
        *,
        task: str,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        augment: AugmentSteps = (),
        train: bool = False,
    ) -> None:
        self.dataset = dataset
        self.positions = np.asarray(positions, dtype=np.int64)
        self.task = task
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.augment = augment
        self.train = train
        self.augment_device: torch.device | None = None  # set by FoldData.source

    def __len__(self) -> int:
        return len(self.positions)

    def iter_batches(
        self,
        order: np.ndarray,
        batch_size: int,
        *,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[Batch]:
        import torch
        from torch.utils.data import DataLoader

        chosen = self.positions[np.asarray(order, dtype=np.int64)]
        # Worker seeds come from their own generator, seeded from the position in the epoch,
        # so drawing them never moves the engine's generator (resume stays exact).
        seed = (int(chosen[0]) * 1_000_003 + len(chosen)) if len(chosen) else 0
        if generator is not None:
            seed += generator.initial_seed()
        loader = DataLoader(
            self.dataset,
            batch_size=batch_size,
            sampler=chosen.tolist(),
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            collate_fn=self.collate_fn,
            worker_init_fn=_seed_worker if self.num_workers else None,
            generator=torch.Generator().manual_seed(seed % 2**63),
        )
        for i, raw in enumerate(loader):
            batch = _to_batch(raw, self.task)
            batch[INDEX] = torch_index(chosen[i * batch_size : (i + 1) * batch_size])
            _augment(batch, self.augment, generator if self.train else None, self.augment_device)
            yield batch
