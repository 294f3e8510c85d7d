"""What every rank learns at a data-parallel step: the global batch's loss and any rank's stop
request ride on DDP's gradient all-reduce (no collective of their own), yet reach every rank
at the same step. Two gloo processes, joined through a file store in the test's directory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

pytestmark = pytest.mark.integration

WORLD = 2


def _join(rank: int, folder: str) -> None:
    os.environ.update(
        {"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(WORLD)},
    )
    torch.set_num_threads(1)
    store = Path(folder) / "store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 3))


def _hook_worker(rank: int, folder: str) -> None:
    from trainspec.engine._dist import StepShare, wrap_ddp
    from trainspec.spec import TrainSpec

    _join(rank, folder)
    config = TrainSpec.model_validate({})
    share = StepShare(WORLD)
    carried = wrap_ddp(_model(), torch.device("cpu"), config, share)
    plain = wrap_ddp(_model(), torch.device("cpu"), config)
    x = torch.randn(8, 6, generator=torch.Generator().manual_seed(rank))
    y = torch.arange(8) % 3
    out: dict[str, Any] = {}
    for name, model in (("carried", carried), ("plain", plain)):
        loss = nn.functional.cross_entropy(model(x), y)
        if name == "carried":
            share.arm(torch.stack([loss.detach().double(), torch.tensor(float(rank == 1))]))
        loss.backward()  # type: ignore[no-untyped-call]
        out[name] = [p.grad.tolist() for p in model.parameters() if p.grad is not None]
        out[f"{name}_loss"] = loss.item()
    result = share.take()
    assert result is not None
    out["sum"], out["stop"] = result.tolist()
    # a backward pass that does not synchronise (accumulation) reduces nothing
    with carried.no_sync():  # type: ignore[operator]
        share.arm(torch.zeros(2, dtype=torch.float64))
        nn.functional.cross_entropy(carried(x), y).backward()  # type: ignore[no-untyped-call]
    out["no_sync"] = share.take() is None
    (Path(folder) / f"hook{rank}.json").write_text(json.dumps(out))
    dist.destroy_process_group()


def test_the_loss_and_stop_ride_on_the_gradients_which_stay_the_default_average(
    tmp_path: Path,
) -> None:
    mp.spawn(_hook_worker, args=(str(tmp_path),), nprocs=WORLD)
    ranks = [json.loads((tmp_path / f"hook{r}.json").read_text()) for r in range(WORLD)]
    total = sum(r["plain_loss"] for r in ranks)
    for r in ranks:
        assert r["carried"] == r["plain"]  # the same averaged gradients as DDP's own hook
        assert r["carried"] == ranks[0]["carried"]
        assert r["sum"] == pytest.approx(total, rel=1e-6)
        assert r["stop"] == 1.0  # rank 1's request, on every rank
        assert r["no_sync"]


def _fit_worker(rank: int, folder: str, case: str) -> None:
    from tests.unit.engine.helpers import ArraySource
    from trainspec.engine import FitSettings, fit
    from trainspec.errors import TrainingError
    from trainspec.spec import TrainSpec

    _join(rank, folder)
    g = torch.Generator().manual_seed(1)
    data = {"x": torch.randn(64, 6, generator=g), "target": torch.randint(0, 3, (64,), generator=g)}
    config = TrainSpec.model_validate(
        {"epochs": 2, "batch_size": 4, "progress": "none", "device": "cpu"}
    )
    calls = {"forward": 0, "stop": 0}

    def forward(module: nn.Module, batch: Any) -> torch.Tensor:
        calls["forward"] += 1
        out: torch.Tensor = module(batch["x"])
        # rank 1 alone meets a non-finite loss, at its 5th step
        return out * float("nan") if case == "nan" and rank == 1 and calls["forward"] == 5 else out

    def stop_flag() -> bool:  # rank 0 alone is asked to stop, after its 3rd step
        calls["stop"] += 1
        return case == "stop" and rank == 0 and calls["stop"] > 3

    settings = FitSettings(
        config=config, task="classification", num_classes=3, seed=0, forward=forward
    )
    out: dict[str, Any] = {}
    try:
        result = fit(_model(), ArraySource(data), None, settings, stop_flag=stop_flag)
        out.update(step=result.global_step, interrupted=result.interrupted)
        out["loss"] = [row["train/loss"] for row in result.history]
    except TrainingError as exc:
        out["error"] = str(exc)
    (Path(folder) / f"{case}{rank}.json").write_text(json.dumps(out))
    dist.destroy_process_group()


@pytest.mark.parametrize("case", ["stop", "nan", "plain"])
def test_every_rank_stops_or_fails_at_the_same_step(tmp_path: Path, case: str) -> None:
    mp.spawn(_fit_worker, args=(str(tmp_path), case), nprocs=WORLD)
    ranks = [json.loads((tmp_path / f"{case}{r}.json").read_text()) for r in range(WORLD)]
    assert ranks[0] == ranks[1]
    if case == "stop":
        assert ranks[0]["interrupted"] and ranks[0]["step"] == 4
    elif case == "nan":
        assert "non-finite training loss nan at epoch 1, step 5" in ranks[0]["error"]
    else:  # 64 samples, a global batch of 8: 8 steps an epoch
        assert ranks[0]["step"] == 16 and not ranks[0]["interrupted"]
        assert all(v == v for v in ranks[0]["loss"])
