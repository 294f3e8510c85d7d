"""Evaluation over a split: the loss as the size-weighted mean of the batch losses, and the
metrics over every row that counts, whatever the batching."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trainspec.engine._device import default_forward
from trainspec.engine._evaluate import Outputs, resolve_metrics, run_eval
from trainspec.engine._lossfn import LossFn

from .helpers import ArraySource, classification_data, mlp


def _loss_fn() -> LossFn:
    return LossFn(nn.CrossEntropyLoss(), class_targets=True, ignore_index=-100)


def test_loss_and_accuracy_skip_ignored_rows_and_weigh_batches_by_size() -> None:
    data = classification_data(n=50)
    data["target"][[3, 17, 44]] = -100  # rows the loss ignores must not be scored either
    model = mlp()
    scores = run_eval(
        model,
        ArraySource(data),
        batch_size=16,  # 16, 16, 16, 2: unequal batches
        loss_fn=_loss_fn(),
        metrics=resolve_metrics(["accuracy"], "classification"),
        task="classification",
        forward=default_forward,
        device=torch.device("cpu"),
    )
    with torch.no_grad():
        logits = model(data["x"])
    expected = 0.0
    for start in range(0, 50, 16):
        part = slice(start, start + 16)
        n = len(data["target"][part])
        mean = nn.functional.cross_entropy(logits[part], data["target"][part])
        expected += float(mean.double()) * n
    assert scores["loss"] == expected / 50
    keep = data["target"] != -100
    accuracy = float((logits[keep].argmax(1) == data["target"][keep]).double().mean())
    assert scores["accuracy"] == accuracy
    assert model.training  # the module's mode is restored


def test_rows_keep_their_batch_order_across_output_shapes() -> None:
    """Batches of (B, C) logits are held and masked together; a batch of sequence outputs
    (B, T, C) between them must still come out in the order the batches were added."""
    outputs = Outputs()
    loss_fn = _loss_fn()
    flat = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    outputs.add(flat, {"target": torch.tensor([0, -100])}, loss_fn, "classification")
    seq = torch.tensor([[[0.0, 3.0], [3.0, 0.0]]])  # one sequence of two positions
    outputs.add(seq, {"target": torch.tensor([[1, 0]])}, loss_fn, "classification")
    outputs.add(flat, {"target": torch.tensor([1, 1])}, loss_fn, "classification")
    y_true, y_pred, y_score = outputs.arrays()
    assert np.concatenate(y_true).tolist() == [0, 1, 0, 1, 1]
    assert np.concatenate(y_pred).tolist() == [0, 1, 0, 0, 1]
    assert np.concatenate(y_score).shape == (5, 2)
