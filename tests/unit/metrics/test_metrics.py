"""Metrics: values, registry names, direction, and the awkward cases of small val sets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from trainspec.errors import SpecError
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
    with pytest.raises(SpecError, match=r"train.metrics\[0\]: unknown metric 'acuracy'") as err:
        get_metric("acuracy", path=("train", "metrics", 0))
    assert err.value.problems[0].hint == "did you mean 'accuracy'?"


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


def _sk_cases() -> list[tuple[str, Any]]:
    """Every metric a scikit-learn user expects, against scikit-learn computed here."""
    from sklearn import metrics as skm

    def proba(fn: Any) -> Any:
        return lambda t, p, s: fn(t, s)

    return [
        ("precision", lambda t, p, s: skm.precision_score(t, p, average="macro", zero_division=0)),
        ("precision_weighted", lambda t, p, s: skm.precision_score(t, p, average="weighted")),
        ("recall", lambda t, p, s: skm.recall_score(t, p, average="macro")),
        ("recall_weighted", lambda t, p, s: skm.recall_score(t, p, average="weighted")),
        ("f1_weighted", lambda t, p, s: skm.f1_score(t, p, average="weighted")),
        ("mcc", lambda t, p, s: skm.matthews_corrcoef(t, p)),
        ("log_loss", proba(skm.log_loss)),
        ("top_k_accuracy", proba(lambda t, s: skm.top_k_accuracy_score(t, s, k=2))),
        ("top3_accuracy", proba(lambda t, s: skm.top_k_accuracy_score(t, s, k=3))),
        ("roc_auc_ovr", proba(lambda t, s: skm.roc_auc_score(t, s, multi_class="ovr"))),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "reference"), _sk_cases())
def test_classification_metrics_match_scikit_learn(name: str, reference: Any) -> None:
    rng = np.random.default_rng(1)
    y_true = np.arange(40) % 4
    scores = rng.dirichlet(np.ones(4), size=40) + np.eye(4)[y_true] * 0.3
    scores /= scores.sum(axis=1, keepdims=True)
    y_pred = scores.argmax(axis=1)
    value = get_metric(name)(y_true, y_pred, scores)
    assert value == pytest.approx(reference(y_true, y_pred, scores))
    assert 0 < value < 10


def test_regression_metrics_match_scikit_learn() -> None:
    from sklearn import metrics as skm

    y_true = np.array([1000.0, 2000.0, 3000.0, 4500.0])
    y_pred = np.array([1100.0, 1900.0, 3300.0, 4400.0])
    expected = {
        "mse": skm.mean_squared_error(y_true, y_pred),
        "mape": skm.mean_absolute_percentage_error(y_true, y_pred),
        "explained_variance": skm.explained_variance_score(y_true, y_pred),
        "root_mean_squared_error": np.sqrt(skm.mean_squared_error(y_true, y_pred)),
        "r2_score": skm.r2_score(y_true, y_pred),
        "mean_absolute_error": skm.mean_absolute_error(y_true, y_pred),
    }
    for name, value in expected.items():
        assert get_metric(name)(y_true, y_pred, None) == pytest.approx(value), name


def test_scikit_learn_names_are_aliases_that_keep_the_name_asked_for() -> None:
    from trainspec.metrics import ALIASES

    for name, aliases in ALIASES.items():
        base = get_metric(name)
        for alias in aliases:
            metric = get_metric(alias)
            assert metric.name == alias and metric.fn is base.fn
            assert metric.higher_is_better == base.higher_is_better
    assert metric_mode("val/mean_squared_error", {"mean_squared_error": get_metric("mse")}) == "min"
    assert not get_metric("log_loss").higher_is_better and not get_metric("mape").higher_is_better


def test_probability_metrics_without_scores_are_nan() -> None:
    y = np.array([0, 1, 1])
    for name in ("log_loss", "top_k_accuracy", "roc_auc"):
        assert np.isnan(get_metric(name)(y, y, None))
