"""Batches read from memory-mapped arrays: only a batch's rows are ever in memory.

Used when an input is still a map once the fitted transforms have run (an ``.npy`` file, the
decoded-image cache): the split keeps row numbers, each batch gathers its rows, converts them
to float32 (times the input's scale) and augments them. Pages read are handed back to the
page cache every few tens of megabytes, so the process's resident memory stays near one
batch however large the file; data-parallel processes all read the one cached file.
"""

from __future__ import annotations

import contextlib
import mmap
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from trainspec.data._batch import INDEX, TARGET, WEIGHT, Batch
from trainspec.data._loaders import AugmentSteps, _augment, _chunks, torch_index
from trainspec.data._table import InputArray

if TYPE_CHECKING:
    import torch

__all__ = ["MappedBatchSource", "release_pages"]

_RELEASE_BYTES = 64 << 20


def release_pages(values: np.ndarray) -> None:
    """Drop the pages of a read-only map from this process (they stay in the page cache)."""
    base: object = values
    while isinstance(base, np.ndarray) and not isinstance(base, np.memmap):
        base = base.base
    handle = getattr(base, "_mmap", None)
    advise = getattr(mmap, "MADV_DONTNEED", None)
    if isinstance(handle, mmap.mmap) and advise is not None:
        # A closed map, or no madvise here: nothing to hand back.
        with contextlib.suppress(OSError, ValueError):
            handle.madvise(advise)


class MappedBatchSource:
    """One split of mapped inputs (rows as samples), gathered batch by batch."""

    def __init__(
        self,
        inputs: dict[str, InputArray],
        *,
        rows: np.ndarray,
        target: torch.Tensor | None = None,
        weight: torch.Tensor | None = None,
        augment: AugmentSteps = (),
        train: bool = False,
        pin_memory: bool = False,
    ) -> None:
        self.inputs = inputs
        self.rows = np.asarray(rows, dtype=np.int64)  # split position -> row of the map
        self.positions = torch_index(self.rows)
        self.target = target
        self.weight = weight
        self.augment = augment
        self.train = train
        self.pin_memory = pin_memory
        self._read = 0

    def __len__(self) -> int:
        return len(self.rows)

    def _input(self, x: InputArray, rows: np.ndarray) -> torch.Tensor:
        import torch

        ordered = np.argsort(rows, kind="stable")  # read the file forwards
        part = np.empty((len(rows), *x.values.shape[1:]), dtype=x.values.dtype)
        part[ordered] = x.values[rows[ordered]]
        self._read += part.nbytes
        if x.integer:
            return torch.from_numpy(part.astype(np.int64))
        tensor = torch.from_numpy(part).to(torch.float32)
        return tensor * x.scale if x.scale is not None else tensor

    def iter_batches(
        self,
        order: np.ndarray,
        batch_size: int,
        *,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[Batch]:
        for idx in _chunks(order, batch_size, drop_last):
            rows = self.rows[idx]
            batch = {name: self._input(x, rows) for name, x in self.inputs.items()}
            picked = torch_index(idx)
            if self.target is not None:
                batch[TARGET] = self.target.index_select(0, picked)
            if self.weight is not None:
                batch[WEIGHT] = self.weight.index_select(0, picked)
            batch[INDEX] = self.positions.index_select(0, picked)
            _augment(batch, self.augment, generator if self.train else None)
            if self.pin_memory:
                batch = {k: v.pin_memory() for k, v in batch.items()}
            if self._read > _RELEASE_BYTES:
                self._release()
            yield batch

    def _release(self) -> None:
        self._read = 0
        for x in self.inputs.values():
            release_pages(x.values)
