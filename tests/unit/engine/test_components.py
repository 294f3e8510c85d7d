"""Optimisers, schedulers and losses built from the spec, and their errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from trainspec.engine._losses import build_loss
from trainspec.engine._optim import build_optimizer, build_scheduler
from trainspec.errors import SpecError
from trainspec.spec import LossSpec, OptimizerSpec, ParamGroupSpec, SchedulerSpec


def _model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_optimizer_by_name_with_params() -> None:
    opt = build_optimizer(_model(), OptimizerSpec(name="SGD", lr=0.1, momentum=0.9))
    assert isinstance(opt, torch.optim.SGD)
    assert opt.param_groups[0]["momentum"] == 0.9


def test_optimizer_name_is_case_insensitive_and_import_paths_work() -> None:
    assert isinstance(build_optimizer(_model(), OptimizerSpec(name="adamw")), torch.optim.AdamW)
    opt = build_optimizer(_model(), OptimizerSpec(name="torch.optim.RMSprop"))
    assert isinstance(opt, torch.optim.RMSprop)


def test_unknown_optimizer_names_the_nearest() -> None:
    with pytest.raises(SpecError) as info:
        build_optimizer(_model(), OptimizerSpec(name="AdamX"))
    text = str(info.value)
    assert "train.optimizer.name" in text and "AdamX" in text and "did you mean 'Adam" in text


def test_unknown_optimizer_param_is_named() -> None:
    with pytest.raises(SpecError) as info:
        build_optimizer(_model(), OptimizerSpec(name="SGD", momentun=0.9))
    text = str(info.value)
    assert "train.optimizer.momentun" in text and "did you mean 'momentum'" in text


def test_param_groups_by_glob_and_frozen_parameters_left_out() -> None:
    model = _model()
    model[0].bias.requires_grad_(False)
    groups = [ParamGroupSpec(params="0.*", lr=0.5, weight_decay=0.0)]
    opt = build_optimizer(model, OptimizerSpec(name="AdamW", lr=0.01), groups)
    first, rest = opt.param_groups
    assert first["lr"] == 0.5 and first["weight_decay"] == 0.0
    assert len(first["params"]) == 1 and first["params"][0] is model[0].weight
    assert rest["lr"] == 0.01 and len(rest["params"]) == 2
    with pytest.raises(SpecError, match=r"finetune\.param_groups\[0\]\.params"):
        build_optimizer(model, OptimizerSpec(), [ParamGroupSpec(params="encoder.*")])


def _opt(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD(_model().parameters(), lr=lr)


def test_scheduler_errors() -> None:
    with pytest.raises(SpecError, match="did you mean 'StepLR'"):
        build_scheduler(_opt(), SchedulerSpec(name="StepLr2"), total=10, monitor_mode="min")
    with pytest.raises(SpecError, match=r"train\.scheduler\.step_size.*needs parameter"):
        build_scheduler(_opt(), SchedulerSpec(name="StepLR"), total=10, monitor_mode="min")
    with pytest.raises(SpecError, match=r"train\.scheduler\.gama.*did you mean 'gamma'"):
        build_scheduler(
            _opt(),
            SchedulerSpec(name="StepLR", step_size=2, gama=0.5),
            total=10,
            monitor_mode="min",
        )
    with pytest.raises(SpecError, match="ReduceLROnPlateau steps once per epoch"):
        build_scheduler(
            _opt(),
            SchedulerSpec(name="ReduceLROnPlateau", interval="step"),
            total=10,
            monitor_mode="min",
        )


def _lrs(sched: object, opt: torch.optim.Optimizer, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()  # type: ignore[attr-defined]
    return out


def test_warmup_cosine_shape() -> None:
    opt = _opt()
    sched = build_scheduler(
        opt,
        SchedulerSpec(name="warmup_cosine", warmup_steps=4, warmup_start_factor=0.25),
        total=12,
        monitor_mode="min",
    )
    lrs = _lrs(sched, opt, 13)
    assert lrs[:5] == pytest.approx([0.25, 0.4375, 0.625, 0.8125, 1.0])
    assert lrs[8] == pytest.approx(0.5) and lrs[12] == pytest.approx(0.0)


def _warmup_cosine_lr(t: int, total: int, warmup: int, eta_min: float, start: float) -> float:
    """The schedule written out (base lr 1): linear warm-up, then half a cosine to eta_min."""
    if t < warmup:
        return start + (1 - start) * t / warmup
    progress = min(1.0, (t - warmup) / max(1, total - warmup))
    return eta_min + (1 - eta_min) * 0.5 * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize(("warmup", "eta_min"), [(0, 0.0), (4, 0.1), (3, 0.0), (11, 0.05)])
def test_warmup_cosine_is_cosine_with_a_warmup(warmup: int, eta_min: float) -> None:
    lrs = {}
    for name in ("warmup_cosine", "cosine"):
        opt = _opt()
        spec = SchedulerSpec.model_validate(
            {"name": name, "warmup_steps": warmup, "warmup_start_factor": 0.25, "eta_min": eta_min}
        )
        lrs[name] = _lrs(build_scheduler(opt, spec, total=12, monitor_mode="min"), opt, 13)
    expected = [_warmup_cosine_lr(t, 12, warmup, eta_min, 0.25) for t in range(13)]
    assert lrs["warmup_cosine"] == pytest.approx(expected, abs=1e-12)
    assert lrs["cosine"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("warmup", "at"), [(4, 2), (4, 7), (0, 5)])
def test_an_older_warmup_cosine_state_resumes_on_the_same_schedule(warmup: int, at: int) -> None:
    from trainspec.engine._optim import upgrade_scheduler_state

    lr = [_warmup_cosine_lr(t, 12, warmup, 0.0, 0.25) for t in range(13)]
    old = {  # what the former WarmupCosineLR class saved after ``at`` steps
        "total_steps": 12, "warmup_steps": warmup, "eta_min": 0.0, "start_factor": 0.25,
        "base_lrs": [1.0], "last_epoch": at, "_step_count": at + 1,
        "_get_lr_called_within_step": False, "_last_lr": [lr[at]],
    }  # fmt: skip
    opt = _opt()
    spec = SchedulerSpec(name="warmup_cosine", warmup_steps=warmup, warmup_start_factor=0.25)
    sched = build_scheduler(opt, spec, total=12, monitor_mode="min")
    opt.param_groups[0]["lr"] = lr[at]  # as the optimiser's own state restores it
    sched.load_state_dict(upgrade_scheduler_state(sched, old))
    assert _lrs(sched, opt, 13 - at) == pytest.approx(lr[at:], abs=1e-9)


def test_cosine_fills_t_max_and_warmup_wraps_any_scheduler() -> None:
    opt = _opt()
    sched = build_scheduler(opt, SchedulerSpec(name="cosine"), total=10, monitor_mode="min")
    assert sched.T_max == 10
    opt = _opt()
    sched = build_scheduler(
        opt,
        SchedulerSpec(name="StepLR", step_size=100, warmup_steps=2, warmup_start_factor=0.5),
        total=10,
        monitor_mode="min",
    )
    assert _lrs(sched, opt, 4) == pytest.approx([0.5, 0.75, 1.0, 1.0])


def test_plateau_takes_the_monitor_mode() -> None:
    sched = build_scheduler(
        _opt(), SchedulerSpec(name="ReduceLROnPlateau"), total=10, monitor_mode="max"
    )
    assert sched.mode == "max"


def test_auto_loss_by_task_and_unknown_loss() -> None:
    ce = build_loss(LossSpec(), task="classification", num_classes=3)
    assert isinstance(ce.module, nn.CrossEntropyLoss) and ce.class_targets
    mse = build_loss(LossSpec(), task="regression", num_classes=None)
    assert isinstance(mse.module, nn.MSELoss)
    with pytest.raises(SpecError, match=r"train\.loss\.name.*did you mean 'HuberLoss'"):
        build_loss(LossSpec(name="HuberLos"), task="regression", num_classes=None)
    with pytest.raises(SpecError, match=r"train\.loss\.reduction.*cannot be set"):
        build_loss(LossSpec(name="MSELoss", reduction="sum"), task="regression", num_classes=None)


def test_class_loss_with_regression_fails() -> None:
    with pytest.raises(SpecError, match=r"train\.loss\.name.*task is regression"):
        build_loss(LossSpec(name="CrossEntropyLoss"), task="regression", num_classes=None)


def test_float_targets_with_cross_entropy_fail_on_check() -> None:
    loss = build_loss(LossSpec(), task="classification", num_classes=3)
    batch = {"target": torch.rand(4)}
    with pytest.raises(SpecError, match=r"train\.loss\.name.*integer class targets"):
        loss.check(torch.randn(4, 3), batch, num_classes=3)
    with pytest.raises(SpecError, match=r"outputs 5 classes.*data has 3"):
        loss.check(torch.randn(4, 5), {"target": torch.zeros(4, dtype=torch.long)}, num_classes=3)


def test_regression_output_shape_mismatch_fails_and_trailing_one_is_squeezed() -> None:
    loss = build_loss(LossSpec(), task="regression", num_classes=None)
    loss.check(torch.randn(4, 1), {"target": torch.rand(4)}, num_classes=None)
    with pytest.raises(SpecError, match="shaped like the targets"):
        loss.check(torch.randn(4, 3), {"target": torch.rand(4)}, num_classes=None)


def test_class_weights_explicit_balanced_and_wrong_length() -> None:
    targets = np.array([0, 0, 0, 1])
    loss = build_loss(
        LossSpec(class_weights="balanced"),
        task="classification",
        num_classes=2,
        train_targets=targets,
    )
    weight = loss.module.get_buffer("weight")
    assert weight.tolist() == pytest.approx([4 / 6, 2.0])
    with pytest.raises(SpecError, match="3 class weights given for 2 classes"):
        build_loss(LossSpec(class_weights=[1.0, 2.0, 3.0]), task="classification", num_classes=2)


def test_per_sample_weights_give_a_weighted_mean() -> None:
    loss = build_loss(LossSpec(), task="regression", num_classes=None)
    out = torch.tensor([1.0, 2.0, 3.0])
    batch = {"target": torch.zeros(3), "weight": torch.tensor([1.0, 0.0, 3.0])}
    assert loss(out, batch).item() == pytest.approx((1 * 1 + 0 * 4 + 3 * 9) / 4)


def test_sequence_outputs_ignore_padded_positions() -> None:
    loss = build_loss(LossSpec(), task="classification", num_classes=3)
    out = torch.randn(2, 4, 3)
    target = torch.tensor([[0, 1, 2, -100], [2, -100, -100, -100]])
    batch = {"target": target}
    loss.check(out, batch, num_classes=3)
    keep = target.reshape(-1) != -100
    expected = nn.functional.cross_entropy(out.reshape(-1, 3)[keep], target.reshape(-1)[keep])
    assert loss(out, batch).item() == pytest.approx(expected.item())
    weighted = loss(out, {"target": target, "weight": torch.tensor([1.0, 1.0])})
    assert weighted.item() == pytest.approx(expected.item())
    assert not math.isnan(weighted.item())


def test_predict_outputs_pads_sequences_of_different_lengths_with_nan() -> None:
    import numpy as np
    import torch

    from trainspec.engine import predict_outputs

    class Nights:
        lengths = (3, 5, 2)

        def __len__(self) -> int:
            return 3

        def iter_batches(self, order, batch_size, *, drop_last=False, generator=None):  # type: ignore[no-untyped-def]
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                t = max(self.lengths[i] for i in idx)
                yield {"x": torch.ones(len(idx), t, 2)}

    out = predict_outputs(torch.nn.Linear(2, 4), Nights(), batch_size=1)
    assert out.shape == (3, 5, 4)
    assert np.isnan(out[0, 3:]).all() and not np.isnan(out[1]).any()


def test_deterministic_mode_leaves_new_tensors_unfilled_and_restores_both_settings() -> None:
    """Inside ``deterministic(True)`` torch's deterministic algorithms are on and its NaN fill
    of new tensors is off (a bug check that cost 5 % of a CNN's step); both come back after,
    and a step gives the same values as with the fill on."""
    import torch.utils.deterministic as det

    from trainspec.engine._device import deterministic

    def step() -> torch.Tensor:
        torch.manual_seed(0)
        conv = nn.Conv1d(1, 4, 7, stride=2)
        x = torch.randn(3, 1, 64)
        conv(x).square().mean().backward()
        assert conv.weight.grad is not None
        return conv.weight.grad

    before = torch.are_deterministic_algorithms_enabled()
    fill = det.fill_uninitialized_memory  # type: ignore[attr-defined]
    with deterministic(True):
        assert torch.are_deterministic_algorithms_enabled()
        assert det.fill_uninitialized_memory is False  # type: ignore[attr-defined]
        fast = step()
    assert torch.are_deterministic_algorithms_enabled() == before
    assert det.fill_uninitialized_memory == fill  # type: ignore[attr-defined]
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        checked = step()  # with torch's NaN fill of new tensors
    finally:
        torch.use_deterministic_algorithms(before)
    assert torch.equal(fast, checked)
