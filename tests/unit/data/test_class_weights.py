"""One rule for balanced class weights, used by the loss and by a fold alike."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from trainspec.data import balanced_class_weights
from trainspec.engine._losses import build_loss
from trainspec.errors import DataError
from trainspec.spec import LossSpec


def test_every_class_present_gives_scikit_learns_balanced_weights() -> None:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 4, size=200)
    expected = compute_class_weight("balanced", classes=np.arange(4), y=targets)
    np.testing.assert_allclose(balanced_class_weights(targets, 4), expected)
    # so the weights average 1 over the samples
    assert balanced_class_weights(targets, 4)[targets].mean() == pytest.approx(1.0)


def test_an_absent_class_gets_weight_one_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    targets = np.array([0, 0, 0, 2, -100, -100])  # class 1 never occurs; -100 is unlabelled
    with caplog.at_level(logging.WARNING):
        weights = balanced_class_weights(targets, 3)
    present = compute_class_weight("balanced", classes=np.array([0, 2]), y=np.array([0, 0, 0, 2]))
    np.testing.assert_allclose(weights, [present[0], 1.0, present[1]])
    assert "classes [1] never occur" in caplog.text


def test_a_label_outside_the_classes_is_refused() -> None:
    with pytest.raises(DataError, match=r"label 5 is outside 0\.\.2"):
        balanced_class_weights(np.array([0, 1, 5]), 3)


def test_the_loss_and_the_fold_use_the_same_rule() -> None:
    targets = np.array([0, 0, 0, 1, 3, 3, 7])  # 7: a custom ignore index; class 2 absent
    loss = build_loss(
        LossSpec(class_weights="balanced", ignore_index=7),
        task="classification",
        num_classes=4,
        train_targets=targets,
    )
    expected = balanced_class_weights(targets, 4, ignore_index=7)
    torch.testing.assert_close(
        loss.module.get_buffer("weight"), torch.as_tensor(expected, dtype=torch.float32)
    )
    assert expected[2] == 1.0


def test_a_folds_class_weights_are_those_of_its_training_split() -> None:
    from trainspec.data import prepare_data
    from trainspec.spec import DataSpec

    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = np.array([0] * 40 + [1] * 15 + [2] * 5)
    spec = DataSpec.model_validate({"source": {"type": "arrays"}})
    fold = prepare_data(spec, seed=0, task="classification", arrays=(x, y)).fold(0)
    train_y = y[fold.indices["train"]]
    np.testing.assert_allclose(fold.class_weights(), balanced_class_weights(train_y, 3), rtol=1e-6)
