"""``data.target_transform``: a regression target rescaled for training, and back again.

A target in the thousands trains badly on a network initialised for unit scale (the first
MSE is in the millions). The transform is fitted on the training split of each fold, the model
learns the transformed target, and predictions are inverted before any metric and in every
prediction written, so users see their own units.

Steps, applied in the order listed: ``log1p`` (log(1 + y), for positive skewed targets such
as prices or counts; needs y > -1), ``standardize`` ((y - mean) / std per target column),
``minmax`` (to [0, 1] per column).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trainspec.errors import DataError

__all__ = ["TARGET_STEPS", "TargetTransform"]

TARGET_STEPS = ("log1p", "standardize", "minmax")


class TargetTransform:
    """Fitted state: for each step its per-column ``shift`` and ``scale`` (y' = (y - s) / c)."""

    def __init__(self, steps: Sequence[str], state: list[dict[str, Any]] | None = None) -> None:
        unknown = [s for s in steps if s not in TARGET_STEPS]
        if unknown:
            raise DataError(
                f"data.target_transform: unknown step(s) {unknown}; use {', '.join(TARGET_STEPS)}"
            )
        self.steps = list(steps)
        self.state_ = state

    def fit(self, y: np.ndarray, where: str = "the training split") -> TargetTransform:
        values = np.asarray(y, dtype=np.float64)
        values = values[np.isfinite(values.reshape(len(values), -1)).all(axis=1)]
        if len(values) == 0:
            raise DataError(f"data.target_transform: {where} has no finite target to fit on")
        state: list[dict[str, Any]] = []
        for step in self.steps:
            if step == "log1p":
                if np.any(values <= -1):
                    raise DataError(
                        f"data.target_transform: log1p needs targets above -1; {where} has "
                        f"{float(values.min()):g}. Drop log1p or shift the target"
                    )
                state.append({"step": step})
                values = np.log1p(values)
                continue
            if step == "standardize":
                shift, scale = values.mean(axis=0), values.std(axis=0)
            else:
                shift, scale = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
            scale = np.where(scale > 0, scale, 1.0)  # a constant target stays put
            state.append({"step": step, "shift": np.atleast_1d(shift).tolist(),
                          "scale": np.atleast_1d(scale).tolist()})  # fmt: skip
            values = (values - shift) / scale
        self.state_ = state
        return self

    def _fitted(self) -> list[dict[str, Any]]:
        if self.state_ is None:
            raise DataError("data.target_transform is used before it was fitted")
        return self.state_

    def transform(self, y: np.ndarray) -> np.ndarray:
        values = np.asarray(y, dtype=np.float64)
        for st in self._fitted():
            if st["step"] == "log1p":
                values = np.log1p(values)
            else:
                values = (values - _cols(st["shift"], values)) / _cols(st["scale"], values)
        return values.astype(np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        values = np.asarray(y, dtype=np.float64)
        for st in reversed(self._fitted()):
            if st["step"] == "log1p":
                values = np.expm1(values)
            else:
                values = values * _cols(st["scale"], values) + _cols(st["shift"], values)
        return values.astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "state": self._fitted()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TargetTransform:
        return cls(doc["steps"], doc["state"])


def _cols(values: list[float], like: np.ndarray) -> np.ndarray | float:
    """One value per target column: a scalar for (N,) targets, (k,) for (N, k) ones."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr[0]) if like.ndim <= 1 or len(arr) == 1 else arr
