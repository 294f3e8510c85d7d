"""Batches read from memory-mapped arrays: only a batch's rows are ever in memory.

Used when an input is still a map once the fitted transforms have run (an ``.npy`` file, the
decoded-image cache): the split keeps row numbers, each batch gathers its rows, converts them
to float32 (times the input's scale) and augments them. Pages read are handed back to the
page cache every few tens of megabytes, so the process's resident memory stays near one
batch however large the file; data-parallel processes all read the one cached file.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from trainspec.data._batch import INDEX, TARGET, WEIGHT, Batch
from trainspec.data._loaders import AugmentSteps, _augment, _chunks, _pinned, torch_index
from trainspec.data._table import InputArray

if TYPE_CHECKING:
    import torch

__all__ = ["MappedBatchSource", "file_rows", "release_pages"]

_RELEASE_BYTES = 32 << 20


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


def file_rows(values: np.ndarray) -> tuple[str, int, int] | None:
    """(file, byte offset of row 0, bytes per row) of a C-contiguous map, else None."""
    if not isinstance(values, np.memmap) or not values.flags.c_contiguous or not len(values):
        return None
    root: np.ndarray = values
    while isinstance(root.base, np.ndarray):
        root = root.base
    filename = getattr(values, "filename", None)
    if not isinstance(root, np.memmap) or filename is None:
        return None
    start = values.ctypes.data - root.ctypes.data + int(root.offset)
    return str(filename), start, int(values.strides[0]) if values.ndim > 1 else values.itemsize


class _RowReader:
    """Reads rows of one mapped array by ``preadv``, consecutive rows in one call."""

    def __init__(self, values: np.ndarray, where: tuple[str, int, int]) -> None:
        self.values = values
        self.file, self.start, self.row = where
        self.fd = os.open(self.file, os.O_RDONLY)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (sorted) as a new array."""
        out = np.empty((len(rows), *self.values.shape[1:]), dtype=self.values.dtype)
        view = out.reshape(-1).view(np.uint8).data  # a writable memoryview of ``out``
        # runs of consecutive rows: [a, b) positions in ``rows``
        cuts = np.flatnonzero(np.diff(rows) != 1) + 1
        bounds = np.concatenate([[0], cuts, [len(rows)]])
        for a, b in itertools.pairwise(bounds.tolist()):
            offset = self.start + int(rows[a]) * self.row
            want = (int(b) - int(a)) * self.row
            got = os.preadv(self.fd, [view[int(a) * self.row : int(a) * self.row + want]], offset)
            if got != want:
                raise OSError(f"{self.file}: short read at byte {offset} ({got} of {want})")
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class MappedBatchSource:
    """One split of mapped inputs (rows as samples), gathered batch by batch."""

    target_inverse: Callable[[np.ndarray], np.ndarray] | None = None  # data.target_transform

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
        self._readers: dict[str, _RowReader | None] = {}
        self.augment_device: torch.device | None = None  # set by FoldData.source

    def __del__(self) -> None:
        for reader in self._readers.values():
            if reader is not None:
                reader.close()

    def _reader(self, name: str, values: np.ndarray) -> _RowReader | None:
        if name not in self._readers:
            where = file_rows(values) if hasattr(os, "preadv") else None
            if where is not None and not os.path.isfile(where[0]):
                where = None  # the file was removed (a temporary decode): read the map
            self._readers[name] = None if where is None else _RowReader(values, where)
        return self._readers[name]

    def __len__(self) -> int:
        return len(self.rows)

    def _input(self, name: str, x: InputArray, rows: np.ndarray) -> torch.Tensor:
        import torch

        ordered = np.argsort(rows, kind="stable")  # read the file forwards
        part = np.empty((len(rows), *x.values.shape[1:]), dtype=x.values.dtype)
        reader = self._reader(name, x.values)
        if reader is not None:
            part[ordered] = reader.read(rows[ordered])
        else:  # not a plain file map: index the map, and hand its pages back now and then
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
            batch = {name: self._input(name, x, rows) for name, x in self.inputs.items()}
            picked = torch_index(idx)
            if self.target is not None:
                batch[TARGET] = self.target.index_select(0, picked)
            if self.weight is not None:
                batch[WEIGHT] = self.weight.index_select(0, picked)
            batch[INDEX] = self.positions.index_select(0, picked)
            _augment(batch, self.augment, generator if self.train else None, self.augment_device)
            if self.pin_memory:
                batch = _pinned(batch)
            if self._read > _RELEASE_BYTES:
                self._release()
            yield batch

    def _release(self) -> None:
        self._read = 0
        for x in self.inputs.values():
            release_pages(x.values)
