"""Built-in metrics, computed by scikit-learn on arrays accumulated over an epoch.

A metric is a callable ``(y_true, y_pred, y_score) -> float``:

- classification: ``y_true`` (N,) int class labels, ``y_pred`` (N,) predicted labels,
  ``y_score`` (N, C) class probabilities;
- regression: ``y_true`` and ``y_pred`` (N,) or (N, k) floats, ``y_score`` is None.

scikit-learn is imported inside each function, so that importing this module (and starting a
training run) stays cheap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from trainspec.registry import registry

__all__ = [
    "Metric",
    "MetricFn",
    "accuracy",
    "auroc",
    "balanced_accuracy",
    "f1",
    "kappa",
    "mae",
    "r2",
    "rmse",
]

Task = Literal["classification", "regression"]
Metric = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], float]


@dataclass(frozen=True)
class MetricFn:
    """A named metric with the direction it improves in and the task it applies to."""

    name: str
    fn: Metric
    higher_is_better: bool
    task: Task | None = None

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
        if len(y_true) == 0:
            return math.nan
        with warnings.catch_warnings():
            # Classes missing from a small validation set are expected, not news.
            warnings.simplefilter("ignore")
            return float(self.fn(y_true, y_pred, y_score))


def _builtin(name: str, *, higher_is_better: bool, task: Task) -> Callable[[Metric], MetricFn]:
    def decorate(fn: Metric) -> MetricFn:
        metric = MetricFn(name, fn, higher_is_better, task)
        registry.add("metric", name, metric)
        return metric

    return decorate


@_builtin("accuracy", higher_is_better=True, task="classification")
def accuracy(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


@_builtin("balanced_accuracy", higher_is_better=True, task="classification")
def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y_true, y_pred))


@_builtin("f1", higher_is_better=True, task="classification")
def f1(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """Macro F1 over the classes present in ``y_true`` or ``y_pred``."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


@_builtin("kappa", higher_is_better=True, task="classification")
def kappa(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """Cohen's kappa (unweighted)."""
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(y_true, y_pred))


@_builtin("auroc", higher_is_better=True, task="classification")
def auroc(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """Area under the ROC curve; one-vs-rest macro average for more than two classes.

    Classes absent from ``y_true`` are left out (their scores renormalised away); with fewer
    than two classes present the value is undefined: NaN.
    """
    from sklearn.metrics import roc_auc_score

    if y_score is None:
        return math.nan
    present = np.unique(y_true)
    if len(present) < 2:
        return math.nan
    scores = y_score if y_score.ndim == 2 else np.stack([1 - y_score, y_score], axis=1)
    if scores.shape[1] == 2:
        return float(roc_auc_score(y_true == present[-1], scores[:, int(present[-1])]))
    sub = scores[:, present]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
    if len(present) == 2:
        return float(roc_auc_score(y_true == present[1], sub[:, 1]))
    return float(roc_auc_score(y_true, sub, multi_class="ovr", labels=present))


@_builtin("mae", higher_is_better=False, task="regression")
def mae(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y_true, y_pred))


@_builtin("rmse", higher_is_better=False, task="regression")
def rmse(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import mean_squared_error

    return float(np.sqrt(mean_squared_error(y_true, y_pred)))


@_builtin("r2", higher_is_better=True, task="regression")
def r2(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import r2_score

    if len(y_true) < 2:
        return math.nan
    return float(r2_score(y_true, y_pred))


def as_metric(name: str, obj: Any) -> MetricFn:
    """Wrap a user callable (from an import path) as a :class:`MetricFn`.

    Its direction is its ``higher_is_better`` attribute (default True) and it applies to any
    task. A callable taking two positional arguments is called as ``(y_true, y_pred)``.
    """
    if isinstance(obj, MetricFn):
        return obj
    if not callable(obj):
        from trainspec.errors import RegistryError

        raise RegistryError(
            f"metric {name!r} resolves to {obj!r}, which is not callable; a metric is a "
            "function (y_true, y_pred, y_score) -> float"
        )
    fn: Metric = obj
    if _positional(obj) < 3:  # (y_true, y_pred) like most scikit-learn metrics

        def fn(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
            return float(obj(y_true, y_pred))

    return MetricFn(name, fn, bool(getattr(obj, "higher_is_better", True)), None)


def _positional(obj: Any) -> int:
    """How many positional arguments ``obj`` takes (3 when it takes ``*args``)."""
    import inspect

    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return 3
    kinds = [p.kind for p in params]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return 3
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(k in positional for k in kinds)
