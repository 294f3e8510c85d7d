"""Metrics by name: lookup, defaults per task, and the direction a monitored value improves in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np

from trainspec.metrics._metrics import MetricFn, as_metric
from trainspec.registry import resolve

__all__ = ["DEFAULT_METRICS", "compute_metrics", "get_metric", "metric_mode"]

DEFAULT_METRICS: Mapping[str, tuple[str, ...]] = {
    "classification": ("accuracy",),
    "regression": ("rmse",),
}


def get_metric(
    name: str, *, allow: Iterable[str] = (), path: tuple[str | int, ...] = ()
) -> MetricFn:
    """A registered metric by name (``accuracy``...), or a callable by import path.

    Raises ``SpecError`` at ``path`` (the key that names it) naming the closest registered
    metric for an unknown name.
    """
    return as_metric(name, resolve("metric", name, path, allow=allow))


def metric_mode(key: str, metrics: Mapping[str, MetricFn]) -> Literal["min", "max"]:
    """``min`` for losses and metrics that improve downwards (mae, rmse), ``max`` otherwise.

    ``key`` is a history key such as ``val/loss`` or ``val/f1``; ``metrics`` maps metric names
    to the resolved metrics of the run.
    """
    name = key.rsplit("/", 1)[-1]
    if name == "loss":
        return "min"
    metric = metrics.get(name)
    if metric is None:
        return "max"
    return "max" if metric.higher_is_better else "min"


def compute_metrics(
    metrics: Sequence[MetricFn],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray | None,
) -> dict[str, float]:
    """Every metric over the same arrays, by name."""
    return {m.name: m(y_true, y_pred, y_score) for m in metrics}
