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

from trainspec.registry import positional_arity, registry

__all__ = [
    "ALIASES",
    "Metric",
    "MetricFn",
    "accuracy",
    "auroc",
    "balanced_accuracy",
    "explained_variance",
    "f1",
    "f1_weighted",
    "kappa",
    "log_loss",
    "mae",
    "mape",
    "mcc",
    "mse",
    "precision",
    "precision_weighted",
    "r2",
    "recall",
    "recall_weighted",
    "rmse",
    "top_k_accuracy",
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


_BUILTINS: dict[str, MetricFn] = {}


def _builtin(name: str, *, higher_is_better: bool, task: Task) -> Callable[[Metric], MetricFn]:
    def decorate(fn: Metric) -> MetricFn:
        metric = MetricFn(name, fn, higher_is_better, task)
        registry.add("metric", name, metric)
        _BUILTINS[name] = metric
        return metric

    return decorate


@_builtin("accuracy", higher_is_better=True, task="classification")
def accuracy(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """The share of labels predicted right: NumPy for label vectors (the value of
    scikit-learn's ``accuracy_score``, without its input checks, which take longer than the
    comparison itself every epoch); other shapes go to ``accuracy_score``."""
    if y_true.ndim == 1 and y_pred.shape == y_true.shape:
        return float(np.mean(y_true == y_pred))
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


@_builtin("f1_weighted", higher_is_better=True, task="classification")
def f1_weighted(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """F1 per class, averaged with each class's share of ``y_true`` as its weight."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="weighted", zero_division=0))


@_builtin("precision", higher_is_better=True, task="classification")
def precision(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """Macro precision (an unpredicted class counts 0)."""
    from sklearn.metrics import precision_score

    return float(precision_score(y_true, y_pred, average="macro", zero_division=0))


@_builtin("precision_weighted", higher_is_better=True, task="classification")
def precision_weighted(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import precision_score

    return float(precision_score(y_true, y_pred, average="weighted", zero_division=0))


@_builtin("recall", higher_is_better=True, task="classification")
def recall(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """Macro recall (for every class present, the share of it found)."""
    from sklearn.metrics import recall_score

    return float(recall_score(y_true, y_pred, average="macro", zero_division=0))


@_builtin("recall_weighted", higher_is_better=True, task="classification")
def recall_weighted(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import recall_score

    return float(recall_score(y_true, y_pred, average="weighted", zero_division=0))


@_builtin("mcc", higher_is_better=True, task="classification")
def mcc(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """Matthews correlation coefficient (multiclass: Gorodkin's R_K)."""
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(y_true, y_pred))


def _class_scores(y_score: np.ndarray) -> np.ndarray:
    """(N, C) class probabilities; a binary model's (N,) positive-class score is widened."""
    return y_score if y_score.ndim == 2 else np.stack([1 - y_score, y_score], axis=1)


@_builtin("log_loss", higher_is_better=False, task="classification")
def log_loss(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """Cross-entropy of the predicted probabilities, over every class the model knows."""
    from sklearn.metrics import log_loss as sk_log_loss

    if y_score is None:
        return math.nan
    scores = _class_scores(y_score)
    scores = scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)
    return float(sk_log_loss(y_true, scores, labels=np.arange(scores.shape[1])))


def _top_k(k: int) -> Metric:
    def top_k(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
        from sklearn.metrics import top_k_accuracy_score

        if y_score is None:
            return math.nan
        scores = _class_scores(y_score)
        labels = np.arange(scores.shape[1])
        return float(top_k_accuracy_score(y_true, scores, k=min(k, len(labels)), labels=labels))

    top_k.__doc__ = f"Share of samples whose class is among the {k} highest scores."
    return top_k


top_k_accuracy = _builtin("top_k_accuracy", higher_is_better=True, task="classification")(
    _top_k(2)  # scikit-learn's default k
)
_builtin("top3_accuracy", higher_is_better=True, task="classification")(_top_k(3))
_builtin("top5_accuracy", higher_is_better=True, task="classification")(_top_k(5))


@_builtin("mse", higher_is_better=False, task="regression")
def mse(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import mean_squared_error

    return float(mean_squared_error(y_true, y_pred))


@_builtin("mape", higher_is_better=False, task="regression")
def mape(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """Mean absolute percentage error as a fraction (0.1 is 10 %), as scikit-learn gives it."""
    from sklearn.metrics import mean_absolute_percentage_error

    return float(mean_absolute_percentage_error(y_true, y_pred))


@_builtin("explained_variance", higher_is_better=True, task="regression")
def explained_variance(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    from sklearn.metrics import explained_variance_score

    if len(y_true) < 2:
        return math.nan
    return float(explained_variance_score(y_true, y_pred))


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


# scikit-learn's names (its metric functions and scorer strings) for the built-ins above. An
# alias is the same metric under the name the spec used, so history keys follow the spec.
ALIASES: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy_score",),
    "balanced_accuracy": ("balanced_accuracy_score",),
    "f1": ("f1_macro",),
    "precision": ("precision_macro",),
    "recall": ("recall_macro",),
    "auroc": ("roc_auc", "roc_auc_ovr", "roc_auc_score"),
    "kappa": ("cohen_kappa", "cohen_kappa_score"),
    "mcc": ("matthews_corrcoef",),
    "top_k_accuracy": ("top_k_accuracy_score",),
    "mae": ("mean_absolute_error",),
    "mse": ("mean_squared_error",),
    "rmse": ("root_mean_squared_error",),
    "mape": ("mean_absolute_percentage_error",),
    "r2": ("r2_score",),
    "explained_variance": ("explained_variance_score",),
}


def _register_aliases() -> None:
    from dataclasses import replace

    for name, aliases in ALIASES.items():
        metric = _BUILTINS[name]
        for alias in aliases:
            registry.add("metric", alias, replace(metric, name=alias))


_register_aliases()


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
    arity = positional_arity(obj)
    if arity is not None and arity < 3:  # (y_true, y_pred) like most scikit-learn metrics

        def fn(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
            return float(obj(y_true, y_pred))

    return MetricFn(name, fn, bool(getattr(obj, "higher_is_better", True)), None)
