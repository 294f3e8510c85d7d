"""Everything ``fit`` builds from the spec before the first step, and checks while building.

Bad input (an unknown optimiser, a parameter its class does not take, a monitored metric that
is never computed, a loss that does not fit the task) fails here, before any training.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from trainspec.data import BatchSource
from trainspec.errors import DataError, SpecError, closest
from trainspec.metrics import MetricFn, metric_mode
from trainspec.spec import TrainSpec

from ._compile import compile_module
from ._device import Forward, as_forward, check_precision, resolve_device, world_size
from ._dist import StepShare, process_batch_size, sync_batchnorm, wrap_ddp
from ._evaluate import resolve_metrics
from ._losses import build_loss, collect_targets
from ._lossfn import LossFn
from ._optim import build_optimizer, build_scheduler, is_plateau, unfreeze_members
from ._rng import EpochSampler
from ._settings import FitSettings

__all__ = ["Setup", "Unfreeze", "build_setup"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unfreeze:
    """Frozen parameters that start learning at the start of epoch ``at_epoch`` (1-based)."""

    at_epoch: int
    names: list[str]
    params: list[nn.Parameter]
    label: str


@dataclass
class Setup:
    """The run's fixed parts: components built from the spec, on their device."""

    config: TrainSpec
    task: Literal["classification", "regression"]
    num_classes: int | None
    seed: int
    module: nn.Module
    forward: Forward
    device: torch.device
    optimizer: torch.optim.Optimizer
    scheduler: Any
    plateau: bool
    scaler: Any
    loss_fn: LossFn
    metrics: list[MetricFn]
    monitor: str
    mode: Literal["min", "max"]
    sampler: EpochSampler
    batches_per_epoch: int
    trainable: list[nn.Parameter]
    unfreeze: list[Unfreeze]
    # Per process; ``world * batch_size`` samples make one optimiser step's global batch.
    batch_size: int = 1
    world: int = 1
    # What the loop calls forward on: ``module`` itself, or its DDP wrapper.
    train_module: nn.Module | None = None
    # torch.compile was asked for and is set up (it may still fall back on the first batch).
    compiled: bool = False
    # The per-step values that ride on DDP's gradient all-reduce (None: one process, or a
    # reduction of their own each step: nan_policy skip, gradients not in float32/float64).
    share: StepShare | None = None

    def components(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "scheduler": self.scheduler, "scaler": self.scaler}

    def wrap(self) -> None:
        """(Re)build the DDP wrapper: it syncs the gradients of the parameters that require
        them when it is built, so a gradual unfreeze builds it again."""
        self.train_module = (
            wrap_ddp(self.module, self.device, self.config, self.share)
            if self.world > 1
            else self.module
        )


def _monitor(
    config: TrainSpec, has_val: bool, metrics: Sequence[MetricFn]
) -> tuple[str, Literal["min", "max"]]:
    computed = ["train/loss"]
    if has_val:
        computed += ["val/loss", *(f"val/{m.name}" for m in metrics)]
    key = config.monitor.metric
    if not has_val and "metric" not in config.monitor.model_fields_set and key == "val/loss":
        key = "train/loss"
    if key not in computed:
        near = closest(key, computed)
        why = " (there is no validation data)" if key.startswith("val/") and not has_val else ""
        raise SpecError.single(
            f"monitored metric {key!r} is never computed{why}",
            path=("train", "monitor", "metric"),
            hint=(f"did you mean {near!r}? " if near else "") + f"Computed: {', '.join(computed)}",
        )
    if config.monitor.mode != "auto":
        return key, config.monitor.mode
    return key, metric_mode(key, {m.name: m for m in metrics})


def _batches(n: int, config: TrainSpec, bs: int) -> int:
    batches = n // bs if config.drop_last else -(-n // bs)
    if batches == 0:
        raise DataError(
            f"the training split has {n} samples per process, fewer than batch_size {bs} with "
            "drop_last; "
            "lower train.batch_size or set train.drop_last: false"
        )
    return batches


def _grad_scaler() -> Any:
    """fp16's loss scaler (its state goes into every checkpoint); torch.amp's from torch 2.3,
    torch.cuda.amp's before."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def build_setup(
    module: nn.Module, train: BatchSource, *, has_val: bool, settings: FitSettings, rank: int
) -> Setup:
    config, task, num_classes = settings.config, settings.task, settings.num_classes
    allow_imports, unfreeze = settings.allow_imports, settings.unfreeze
    if len(train) == 0:
        raise DataError("the training split is empty; check the data source and the split")
    device = resolve_device(config.device)
    check_precision(config.precision, device)
    metrics = resolve_metrics(config.metrics, task, allow=allow_imports)
    monitor, mode = _monitor(config, has_val, metrics)
    targets = None
    if config.loss.class_weights == "balanced":
        targets = collect_targets(train, config.batch_size)
    loss_fn = build_loss(
        config.loss,
        task=task,
        num_classes=num_classes,
        train_targets=targets,
        allow=allow_imports,
        output_kind=settings.output_kind,
    )
    world = world_size()
    bs = process_batch_size(config, world)
    module.to(device)
    sync_batchnorm(module, config, device, world)
    loss_fn.module.to(device)
    optimizer = build_optimizer(
        module,
        config.optimizer,
        settings.param_groups or (),
        unfreeze=unfreeze,
        allow=allow_imports,
    )
    schedule = [
        Unfreeze(
            entry.at_epoch,
            [n for n, _ in members],
            [p for _, p in members],
            entry.params if isinstance(entry.params, str) else ", ".join(entry.params),
        )
        for _, entry, members in unfreeze_members(module, unfreeze)
    ]
    sampler = EpochSampler(len(train), settings.seed, config.shuffle, rank, world)
    batches = _batches(len(sampler.order(0)), config, bs)
    scheduler = None
    if config.scheduler is not None:
        per_epoch = -(-batches // config.accumulate_steps)
        total = config.epochs * per_epoch if config.scheduler.interval == "step" else config.epochs
        if config.max_steps is not None and config.scheduler.interval == "step":
            total = min(total, config.max_steps)
        scheduler = build_scheduler(
            optimizer, config.scheduler, total=total, monitor_mode=mode, allow=allow_imports
        )
    scaler = _grad_scaler() if config.precision == "fp16" else None
    compiled = config.compile and compile_module(module)
    setup = Setup(
        config=config,
        task=task,
        num_classes=num_classes,
        seed=settings.seed,
        module=module,
        forward=as_forward(settings.forward),
        device=device,
        optimizer=optimizer,
        scheduler=scheduler,
        plateau=is_plateau(scheduler),
        scaler=scaler,
        loss_fn=loss_fn,
        metrics=metrics,
        monitor=monitor,
        mode=mode,
        sampler=sampler,
        batches_per_epoch=batches,
        trainable=[p for g in optimizer.param_groups for p in g["params"]],
        unfreeze=schedule,
        batch_size=bs,
        world=world,
        compiled=compiled,
    )
    setup.share = _step_share(setup)
    setup.wrap()
    return setup


def _step_share(setup: Setup) -> StepShare | None:
    """Whether the loss and the stop request can ride on the gradients' all-reduce: not when
    ``nan_policy: skip`` must agree on a batch before its backward pass, nor when the gradients
    are in a dtype too coarse for a loss."""
    if setup.world <= 1 or setup.config.nan_policy == "skip":
        return None
    if any(p.dtype not in (torch.float32, torch.float64) for p in setup.trainable):
        return None
    return StepShare(setup.world)
