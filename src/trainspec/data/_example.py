"""A few raw training rows, as a model's input example (MLflow stores one with the model).

Raw means as ``trainspec predict`` takes them: before the fitted transforms, categorical
columns as their strings. Records (a sample of many rows) have no example: their length varies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainspec.data._table import Assembled

__all__ = ["MAX_EXAMPLE_VALUES", "input_example"]

# An example is for reading and checking, not for volume: at most this many numbers in all.
MAX_EXAMPLE_VALUES = 100_000
_ROWS = 5


def input_example(data: Assembled, samples: np.ndarray) -> dict[str, Any] | None:
    """``{"inputs": {name: {"columns": [...] | None, "values": [...]}}}`` for the first
    training ``samples`` (at most five), or None when the data has no fixed-size rows."""
    if data.is_sequence or not data.inputs or len(samples) == 0:
        return None
    per_row = sum(int(np.prod(a.values.shape[1:], dtype=np.int64)) for a in data.inputs.values())
    n = min(_ROWS, len(samples), MAX_EXAMPLE_VALUES // max(per_row, 1))
    if n < 1:
        return None
    rows = np.sort(np.asarray(samples[:n], dtype=np.int64))
    return {
        "inputs": {
            name: {"columns": array.columns, "values": np.asarray(array.values[rows]).tolist()}
            for name, array in data.inputs.items()
        }
    }
