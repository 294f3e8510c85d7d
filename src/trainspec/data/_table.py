"""What sources load: named arrays (keys) sharing their first axis, and what roles make of them.

A ``KeyTable`` is a source's namespace: *row keys* are arrays of shape (R, ...) with one row per
table row (or per epoch of a record), *record keys* are (N,) arrays with one value per record.
For record data ``offsets`` (N + 1,) gives where each record's rows start and end.

``Assembled`` is the data once roles are picked: inputs as row arrays, the target, and the
per-sample roles. It is what the cache stores and what transforms and splits work on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainspec.errors import DataError, closest

__all__ = ["Assembled", "InputArray", "KeyTable", "missing_key_error", "row_index"]

Loader = Callable[[], np.ndarray]


def missing_key_error(key: str, available: list[str], where: str, role: str) -> DataError:
    near = closest(key, available)
    hint = f"; did you mean {near!r}?" if near else ""
    shown = ", ".join(repr(k) for k in available[:40]) + (" ..." if len(available) > 40 else "")
    return DataError(
        f"{role}: key {key!r} is not in {where}{hint} Available keys: {shown or 'none'}"
    )


@dataclass
class KeyTable:
    """A source's keys. Arrays are loaded on first use, so unused HDF5 datasets are never read."""

    where: str
    n_rows: int
    row_keys: dict[str, np.ndarray | Loader]
    record_keys: dict[str, np.ndarray] = field(default_factory=dict)
    offsets: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [*self.row_keys, *self.record_keys]

    def is_record_key(self, key: str) -> bool:
        return key in self.record_keys

    def get(self, key: str, role: str) -> np.ndarray:
        if key in self.record_keys:
            return self.record_keys[key]
        if key not in self.row_keys:
            raise missing_key_error(key, self.names(), self.where, role)
        value = self.row_keys[key]
        if callable(value):
            value = value()
            self.row_keys[key] = value
        if len(value) != self.n_rows:
            raise DataError(
                f"{role}: key {key!r} in {self.where} has {len(value)} rows, but the other "
                f"keys have {self.n_rows}; every key must have one entry per row"
            )
        return value


@dataclass
class InputArray:
    """One model input: (R, *shape) rows, with column names for a 2-D table. ``integer``
    inputs (token ids, attention masks) reach the model as int64; all others as float32,
    multiplied by ``scale`` when set (uint8 pixels -> [0, 1]). ``values`` may be a
    memory-mapped array, read batch by batch."""

    values: np.ndarray
    columns: list[str] | None = None
    integer: bool = False
    scale: float | None = None

    @property
    def is_mapped(self) -> bool:
        return isinstance(self.values, np.memmap)

    @property
    def is_numeric(self) -> bool:
        return self.values.dtype.kind in "biuf"


@dataclass
class Assembled:
    """Inputs, target and roles; ``offsets`` is set when one sample is a record of rows."""

    inputs: dict[str, InputArray]
    n_samples: int
    offsets: np.ndarray | None = None
    target: np.ndarray | None = None  # raw labels: per row, or per sample
    target_name: str | None = None
    target_columns: list[str] | None = None
    groups: np.ndarray | None = None  # (N,)
    ids: np.ndarray | None = None  # (N,)
    weights: np.ndarray | None = None  # (N,) per sample, or per row for row-wise weights
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # (N,) split / time keys
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return self.n_samples if self.offsets is None else int(self.offsets[-1])

    @property
    def is_sequence(self) -> bool:
        return self.offsets is not None

    def target_per_row(self) -> bool:
        return self.target is not None and self.is_sequence and len(self.target) == self.n_rows

    @property
    def has_row_weights(self) -> bool:
        """Whether the weights are per row (per step of a record) rather than per sample."""
        return (
            self.weights is not None
            and self.offsets is not None
            and len(self.weights) == self.n_rows
            and self.n_rows != self.n_samples
        )

    def rows_of(self, samples: np.ndarray) -> np.ndarray:
        """Row positions of the given samples (the samples themselves unless records)."""
        if self.offsets is None:
            return np.asarray(samples, dtype=np.int64)
        return row_index(self.offsets, samples)


def row_index(offsets: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(offsets[i], offsets[i + 1])`` for every i in samples."""
    samples = np.asarray(samples, dtype=np.int64)
    starts = offsets[samples]
    lengths = offsets[samples + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # Each row's position = its record's start + its rank within the record.
    record_of_row = np.repeat(np.arange(len(samples)), lengths)
    first_row = np.cumsum(lengths) - lengths
    rows = starts[record_of_row] + np.arange(total) - first_row[record_of_row]
    return np.asarray(rows, dtype=np.int64)
