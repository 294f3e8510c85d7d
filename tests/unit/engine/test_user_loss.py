"""Users' losses: the call contract (argument order, the form of the outputs, the class axis),
per-sample and per-step weights reaching them, and the errors when they do not fit."""

from __future__ import annotations

import pytest
import torch

from trainspec.engine._losses import build_loss
from trainspec.errors import SpecError
from trainspec.models import to_scores
from trainspec.spec import LossSpec

NETS = "tests.unit.models.published_nets"
ALLOW = ["tests.unit.models", "tests.unit.engine"]


def _loss(raw: dict, output_kind: str = "logits", task: str = "classification"):  # type: ignore[no-untyped-def]
    return build_loss(
        LossSpec.model_validate(raw),
        task=task,
        num_classes=3,
        allow=ALLOW,
        output_kind=output_kind,
    )


def test_arguments_in_the_order_and_form_the_loss_takes() -> None:
    loss_fn = _loss(
        {"name": f"{NETS}.WeightedLoss", "call": {"args": ["targets", "outputs", "weight"]}},
        output_kind="probabilities",
    )
    proba = torch.softmax(torch.randn(4, 3), dim=-1)
    batch = {"target": torch.tensor([0, 1, 2, 1]), "weight": torch.tensor([1.0, 2.0, 0.5, 1.0])}
    value = loss_fn(to_scores(proba, "probabilities"), batch)  # what forward_batch yields
    seen = loss_fn.fn.seen[-1]
    torch.testing.assert_close(seen["outputs"], proba)  # probabilities, as the model gave them
    assert torch.equal(seen["weights"], batch["weight"])
    expected = -(torch.log(proba[torch.arange(4), batch["target"]]) * batch["weight"]).sum() / 4.5
    torch.testing.assert_close(value, expected)
    # Without data weights the loss still gets its argument: ones.
    loss_fn(to_scores(proba, "probabilities"), {"target": batch["target"]})
    assert torch.equal(loss_fn.fn.seen[-1]["weights"], torch.ones(4))


def test_per_step_weights_and_channels_first() -> None:
    loss_fn = _loss(
        {
            "name": f"{NETS}.WeightedLoss",
            "call": {"args": ["targets", "outputs", "weight"], "layout": "channels_first"},
        },
        output_kind="probabilities",
    )
    proba = torch.softmax(torch.randn(2, 5, 3), dim=-1)  # (B, T, C)
    target = torch.tensor([[0, 1, 2, 1, 0], [2, 2, 1, -100, -100]])
    weight = torch.tensor([[1.0, 0.5, 1.0, 1.0, 1.0], [1.0, 1.0, 2.0, 0.0, 0.0]])
    mask = target != -100
    batch = {"target": target, "weight": weight, "mask": mask}
    loss_fn(to_scores(proba, "probabilities"), batch)
    seen = loss_fn.fn.seen[-1]
    assert seen["outputs"].shape == (2, 3, 5)  # (B, C, T)
    torch.testing.assert_close(seen["outputs"], proba.movedim(-1, 1))
    assert torch.equal(seen["weights"], weight)


def test_values_per_sample_are_averaged_with_the_weights() -> None:
    loss_fn = _loss(
        {"name": f"{NETS}.per_sample_nll", "call": {"outputs": "log_probabilities"}},
        output_kind="logits",
    )
    logits = torch.randn(4, 3)
    target = torch.tensor([0, 1, 2, 0])
    weight = torch.tensor([1.0, 3.0, 0.0, 1.0])
    value = loss_fn(logits, {"target": target, "weight": weight})
    nll = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    torch.testing.assert_close(value, (nll * weight).sum() / weight.sum())


def test_torch_losses_take_per_step_weights() -> None:
    loss_fn = _loss({"name": "CrossEntropyLoss"})
    logits = torch.randn(2, 4, 3)
    target = torch.tensor([[0, 1, 2, 1], [2, 0, -100, -100]])
    weight = torch.tensor([[1.0, 2.0, 1.0, 0.5], [1.0, 1.0, 0.0, 0.0]])
    value = loss_fn(logits, {"target": target, "weight": weight})
    per = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 3), target.reshape(-1), reduction="none"
    )
    w = weight.reshape(-1) * (target.reshape(-1) != -100)
    torch.testing.assert_close(value, (per * w).sum() / w.sum())


def test_cross_entropy_over_probability_outputs_is_their_nll() -> None:
    loss_fn = _loss({"name": "auto"}, output_kind="probabilities")
    proba = torch.softmax(torch.randn(5, 3), dim=-1)
    target = torch.tensor([0, 1, 2, 2, 1])
    value = loss_fn(to_scores(proba, "probabilities"), {"target": target})
    torch.testing.assert_close(value, -torch.log(proba[torch.arange(5), target]).mean())


def test_bad_calls_are_spec_errors() -> None:
    with pytest.raises(SpecError, match=r"train\.loss\.call.*torch\.nn loss"):
        _loss({"name": "CrossEntropyLoss", "call": {"args": ["outputs", "targets"]}})
    with pytest.raises(SpecError, match=r"train\.loss\.class_weights.*your own loss"):
        _loss({"name": f"{NETS}.WeightedLoss", "class_weights": [1, 1, 1]})
    loss_fn = _loss({"name": f"{NETS}.WeightedLoss", "call": {"args": ["outputs", "targets"]}})
    batch = {"target": torch.tensor([0, 1])}
    with pytest.raises(SpecError, match=r"train\.loss\.call.*WeightedLoss failed on the first"):
        loss_fn.check(torch.randn(2, 3), batch, num_classes=3)
    with pytest.raises(ValueError, match=r"args must include 'targets'"):
        LossSpec.model_validate({"name": "x.y", "call": {"args": ["outputs", "weight"]}})


class SmoothedCE(torch.nn.CrossEntropyLoss):
    """A user's subclass of a torch loss: called the torch way unless call: is given."""

    def __init__(self, smoothing: float = 0.1, **kw: object) -> None:
        super().__init__(label_smoothing=smoothing, **kw)  # type: ignore[arg-type]


def test_a_subclass_of_a_torch_loss_is_called_the_torch_way() -> None:
    loss_fn = _loss({"name": "tests.unit.engine.test_user_loss.SmoothedCE"})
    assert type(loss_fn).__name__ == "LossFn" and loss_fn.class_targets
    logits = torch.randn(2, 4, 3)  # (B, T, C): flattened for it, as for CrossEntropyLoss
    target = torch.tensor([[0, 1, 2, 1], [2, 0, -100, -100]])
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 3), target.reshape(-1), label_smoothing=0.1
    )
    torch.testing.assert_close(loss_fn(logits, {"target": target}), expected)
