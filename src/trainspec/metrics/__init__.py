"""Metric functions over numpy arrays, computed by scikit-learn; registered as kind ``metric``.

This package sits just above the registry: models and the engine both use it.
"""

from trainspec.metrics._lookup import DEFAULT_METRICS, compute_metrics, get_metric, metric_mode
from trainspec.metrics._metrics import (
    Metric,
    MetricFn,
    accuracy,
    as_metric,
    auroc,
    balanced_accuracy,
    f1,
    kappa,
    mae,
    r2,
    rmse,
)

__all__ = [
    "DEFAULT_METRICS",
    "Metric",
    "MetricFn",
    "accuracy",
    "as_metric",
    "auroc",
    "balanced_accuracy",
    "compute_metrics",
    "f1",
    "get_metric",
    "kappa",
    "mae",
    "metric_mode",
    "r2",
    "rmse",
]
