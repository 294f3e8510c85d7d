"""The transform contract: constructors store parameters, fitted ones keep ``state``."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from trainspec.data._table import InputArray
from trainspec.errors import DataError, closest

__all__ = ["FittedTransform", "Transform", "select_columns"]


class Transform:
    """Base of every transform. Constructors only store parameters (as in scikit-learn)."""

    stage: ClassVar[str] = "fit"

    def params(self) -> dict[str, Any]:
        names = inspect.signature(type(self).__init__).parameters
        return {n: getattr(self, n) for n in names if n != "self" and hasattr(self, n)}


class FittedTransform(Transform):
    """Learns on training rows, then maps rows; state ends in ``state_`` (arrays + JSON)."""

    stage = "fit"

    def fit(self, x: InputArray) -> None:
        raise NotImplementedError

    def transform(self, x: InputArray) -> InputArray:
        raise NotImplementedError

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays (saved as safetensors) and JSON-able values that ``load_state`` restores."""
        raise NotImplementedError

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        raise NotImplementedError


def select_columns(x: InputArray, columns: Sequence[str] | None, where: str) -> np.ndarray:
    """Positions of the named columns of a 2-D input (all when ``columns`` is None)."""
    if columns is None:
        width = x.values.shape[1] if x.values.ndim == 2 else 0
        return np.arange(width)
    if x.values.ndim != 2 or x.columns is None:
        raise DataError(
            f"{where}: 'columns' needs a table input (rows x named columns); this input has "
            f"shape {x.values.shape[1:]} per row"
        )
    positions = []
    for col in columns:
        if col not in x.columns:
            near = closest(col, x.columns)
            hint = f"; did you mean {near!r}?" if near else ""
            raise DataError(
                f"{where}: column {col!r} is not in the input{hint} Columns: {', '.join(x.columns)}"
            )
        positions.append(x.columns.index(col))
    return np.asarray(positions, dtype=np.int64)
