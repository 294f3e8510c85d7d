"""Frozen parameters stay bitwise equal; gradual unfreezing; exact resume across it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tests.unit.engine.helpers import ArraySource, classification_data
from trainspec.engine import Callback, FitResult, FitSettings, fit, prepare_finetune
from trainspec.errors import TrainingError
from trainspec.spec import FinetuneSpec
from trainspec.spec._schema_train import TrainSpec

CONFIG: dict[str, Any] = {
    "epochs": 4,
    "batch_size": 16,  # 96 samples: 6 steps per epoch
    "progress": "none",
    # Weight decay would move any frozen parameter the optimiser held.
    "optimizer": {"name": "AdamW", "lr": 0.01, "weight_decay": 0.1},
    "scheduler": {"name": "warmup_cosine", "interval": "step", "warmup_steps": 3},
    "checkpoint": {"every_steps": 4, "keep_last": 2},
}
FINETUNE: dict[str, Any] = {
    "freeze": ["body.*", "mid.*"],
    "unfreeze": [{"at_epoch": 3, "params": "mid.*", "lr": 0.002}],
    "param_groups": [{"params": "head.bias", "weight_decay": 0.0}],
}


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            body=nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU()),
            mid=nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2)),
            head=nn.Linear(16, 3),
        )
    )


def _sources() -> tuple[ArraySource, ArraySource]:
    data = classification_data(128)
    train = ArraySource({k: v[:96] for k, v in data.items()}, noise=0.3)
    val = ArraySource({k: v[96:] for k, v in data.items()})
    return train, val


class _Snapshots(Callback):
    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.states: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        self.states.append({k: v.clone() for k, v in self.module.state_dict().items()})


class _StopAfter:
    def __init__(self, steps: int) -> None:
        self.n = steps

    def __call__(self) -> bool:
        self.n -= 1
        return self.n < 0


def _train(
    run_dir: Path | None, finetune: dict[str, Any] = FINETUNE, **kw: Any
) -> tuple[FitResult, nn.Module]:
    net = _net()
    plan = prepare_finetune(
        net, FinetuneSpec.model_validate(finetune), run_dir=run_dir, base_lr=0.01
    )
    train, val = _sources()
    result = fit(
        net,
        train,
        val,
        FitSettings(
            config=TrainSpec.model_validate(kw.pop("config", CONFIG)),
            task="classification",
            num_classes=3,
            seed=0,
            param_groups=plan.param_groups,
            unfreeze=plan.unfreeze,
        ),
        run_dir=run_dir,
        **kw,
    )
    return result, net


def test_frozen_stay_bitwise_equal_and_unfrozen_learn_from_their_epoch() -> None:
    initial = {k: v.clone() for k, v in _net().state_dict().items()}
    net = _net()
    snaps = _Snapshots(net)
    plan = prepare_finetune(net, FinetuneSpec.model_validate(FINETUNE), run_dir=None, base_lr=0.01)
    train, val = _sources()
    fit(
        net,
        train,
        val,
        FitSettings(
            config=TrainSpec.model_validate(CONFIG),
            task="classification",
            num_classes=3,
            seed=0,
            param_groups=plan.param_groups,
            unfreeze=plan.unfreeze,
            callbacks=[snaps],
        ),
    )
    for epoch, state in enumerate(snaps.states, start=1):
        for key in ("body.0.weight", "body.1.weight", "body.1.running_mean", "body.1.running_var"):
            assert torch.equal(state[key], initial[key]), (epoch, key)  # frozen, BN stats too
        mid_same = torch.equal(state["mid.0.weight"], initial["mid.0.weight"])
        stats_same = torch.equal(state["mid.1.running_mean"], initial["mid.1.running_mean"])
        assert mid_same == (epoch < 3), epoch
        assert stats_same == (epoch < 3), epoch  # fixed while frozen, updated once unfrozen
        assert not torch.equal(state["head.weight"], initial["head.weight"])
    assert all(p.requires_grad for n, p in net.named_parameters() if n.startswith("mid."))


def test_resume_across_the_unfreeze_point_is_exact(tmp_path: Path) -> None:
    _, full_net = _train(tmp_path / "full")
    part = tmp_path / "part"
    # Steps counted from each start: stops mid-epoch 1, about the end of epoch 2 (just before
    # mid unfreezes) and in epoch 3.
    steps = []
    for stop_after in (3, 8, 3):  # polls of the stop flag answered "go on" before a stop
        result, _ = _train(part, stop_flag=_StopAfter(stop_after), resume=True)
        assert result.interrupted
        steps.append(result.global_step)
    assert steps == [4, 12, 15], steps
    result, net = _train(part, resume=True)
    assert not result.interrupted
    full_lines = (tmp_path / "full" / "metrics.jsonl").read_bytes()
    assert (part / "metrics.jsonl").read_bytes() == full_lines
    assert len(full_lines.splitlines()) == 4
    torch.testing.assert_close(net.state_dict(), full_net.state_dict(), rtol=0, atol=0)


def test_resume_with_another_unfreezing_plan_is_refused(tmp_path: Path) -> None:
    result, _ = _train(tmp_path, stop_flag=_StopAfter(3))
    assert result.interrupted
    other = {**FINETUNE, "unfreeze": []}
    with pytest.raises(TrainingError, match="parameter groups depend on finetune"):
        _train(tmp_path, other, resume=True)
