"""Metrics: values, registry names, direction, and the awkward cases of small val sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainspec.errors import RegistryError
from trainspec.metrics import (
    DEFAULT_METRICS,
    MetricFn,
    accuracy,
    auroc,
    balanced_accuracy,
    f1,
    get_metric,
    kappa,
    mae,
    metric_mode,
    r2,
    rmse,
)
from trainspec.registry import registry

Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 0])


def test_classification_values() -> None:
    assert accuracy(Y_TRUE, Y_PRED, None) == pytest.approx(4 / 6)
    # recalls 1/2, 1, 1/2
    assert balanced_accuracy(Y_TRUE, Y_PRED, None) == pytest.approx(2 / 3)
    # per class F1: 0.5, 0.8, 2/3
    assert f1(Y_TRUE, Y_PRED, None) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert kappa(Y_TRUE, Y_TRUE, None) == pytest.approx(1.0)


def test_regression_values() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 2.0, 3.0, 6.0])
    assert mae(y, p, None) == pytest.approx(0.5)
    assert rmse(y, p, None) == pytest.approx(1.0)
    assert r2(y, y, None) == pytest.approx(1.0)


def test_auroc_binary_multiclass_and_missing_classes() -> None:
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert auroc(np.array([0, 1, 0, 1]), scores.argmax(1), scores) == pytest.approx(1.0)
    probs = np.eye(3)[Y_TRUE] * 0.7 + 0.1
    assert auroc(Y_TRUE, Y_TRUE, probs) == pytest.approx(1.0)
    # class 2 absent from y_true: scored over the present classes
    two = np.array([0, 1, 0, 1])
    probs3 = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.6, 0.2]])
    assert auroc(two, two, probs3) == pytest.approx(1.0)
    assert math.isnan(auroc(np.array([1, 1]), np.array([1, 1]), np.array([[0.2, 0.8]] * 2)))


def test_empty_arrays_give_nan() -> None:
    assert math.isnan(accuracy(np.zeros(0), np.zeros(0), None))


def test_registered_under_the_metric_kind() -> None:
    names = registry.names("metric")
    for name in ("accuracy", "balanced_accuracy", "f1", "kappa", "auroc", "mae", "rmse", "r2"):
        assert name in names
        assert isinstance(get_metric(name), MetricFn)
    assert DEFAULT_METRICS["classification"] == ("accuracy",)


def test_unknown_metric_names_the_nearest() -> None:
    with pytest.raises(RegistryError, match="did you mean 'accuracy'"):
        get_metric("acuracy")


def test_import_path_metric_is_wrapped() -> None:
    metric = get_metric("sklearn.metrics.accuracy_score")
    assert metric(Y_TRUE, Y_PRED, None) == pytest.approx(4 / 6)
    assert metric.higher_is_better and metric.task is None


def test_mode_follows_the_metric() -> None:
    metrics = {m: get_metric(m) for m in ("accuracy", "mae", "rmse", "r2")}
    assert metric_mode("val/loss", metrics) == "min"
    assert metric_mode("val/mae", metrics) == "min"
    assert metric_mode("val/rmse", metrics) == "min"
    assert metric_mode("val/accuracy", metrics) == "max"
    assert metric_mode("val/r2", metrics) == "max"
