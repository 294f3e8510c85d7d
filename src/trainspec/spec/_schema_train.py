"""The ``train:`` section of a job spec: optimiser, schedule, loss, metrics, checkpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainspec.spec._base import OpenSection, Section

__all__ = [
    "CheckpointSpec",
    "DistributedSpec",
    "EarlyStoppingSpec",
    "LossCallSpec",
    "LossSpec",
    "MonitorSpec",
    "OptimizerSpec",
    "SchedulerSpec",
    "TrainSpec",
]


class OptimizerSpec(OpenSection):
    """``name`` is a ``torch.optim`` class or import path; other keys are its parameters."""

    name: str = Field(default="AdamW", description="torch.optim class name or import path.")
    lr: float = Field(default=1e-3, gt=0)


class SchedulerSpec(OpenSection):
    """A ``torch.optim.lr_scheduler`` class by name or import path, ``cosine`` or
    ``warmup_cosine``; other keys are its parameters.

    ``warmup_steps`` (counted in ``interval`` units) adds a linear warm-up in front of any
    scheduler but ``ReduceLROnPlateau``.
    """

    name: str
    interval: Literal["step", "epoch"] = "epoch"
    warmup_steps: int = Field(default=0, ge=0)
    warmup_start_factor: float = Field(default=0.01, gt=0, le=1)


LossArg = Literal["outputs", "targets", "weight", "mask"]


class LossCallSpec(Section):
    """How a user's loss is called: the order of its arguments, the form of the outputs it
    takes and where their class axis is."""

    args: list[LossArg] = Field(
        default_factory=lambda: list[LossArg](["outputs", "targets"]),
        min_length=2,
        description="The loss's positional arguments in order: outputs, targets, and optionally "
        "weight (per sample (B,) or per step (B, T); ones when the data has none) and mask "
        "((B, T) bool, True at real steps).",
    )
    outputs: Literal["logits", "probabilities", "log_probabilities"] | None = Field(
        default=None,
        description="The form the loss takes its outputs in; default: what the model returns "
        "(model.output.kind).",
    )
    layout: Literal["channels_last", "channels_first"] = Field(
        default="channels_last",
        description="Sequence outputs as (B, T, C) (channels_last) or (B, C, T) (channels_first, "
        "as torch's losses take them).",
    )
    reduction: Literal["auto", "none", "mean"] = Field(
        default="auto",
        description="auto: a scalar the loss returns is used as it is, and values per sample or "
        "step are averaged with the weights and mask; none: the loss returns those values; "
        "mean: it returns the scalar.",
    )

    @model_validator(mode="after")
    def _once(self) -> LossCallSpec:
        for name in ("outputs", "targets"):
            if name not in self.args:
                raise ValueError(f"args must include {name!r}; got {self.args}")
        twice = sorted({a for a in self.args if self.args.count(a) > 1})
        if twice:
            raise ValueError(f"args names {', '.join(twice)} more than once")
        return self


class LossSpec(OpenSection):
    """A ``torch.nn`` loss by name (``auto``: cross-entropy or MSE by task), or a user's loss
    by import path or registered name; other keys are its parameters (``label_smoothing``,
    ``delta``...)."""

    name: str = "auto"
    call: LossCallSpec | None = Field(
        default=None,
        description="For a user's loss (not a torch.nn one): how it is called. Default: "
        "loss(outputs, targets) with outputs as the model returns them, (B, C) or (B, T, C).",
    )
    class_weights: list[float] | Literal["balanced"] | None = None
    ignore_index: int | None = Field(
        default=None, description="Class target ignored by loss and metrics; default -100."
    )


class MonitorSpec(Section):
    metric: str = Field(
        default="val/loss",
        description="History key to monitor; when left at val/loss and there is no validation "
        "data, train/loss.",
    )
    mode: Literal["min", "max", "auto"] = "auto"


class EarlyStoppingSpec(Section):
    patience: int = Field(ge=1)
    min_delta: float = Field(default=0.0, ge=0)


class CheckpointSpec(Section):
    every_epochs: int | None = Field(default=1, ge=1)
    every_steps: int | None = Field(default=None, ge=1)
    keep_last: int = Field(default=2, ge=1)
    save_best: bool = True
    best_at_end: bool = Field(
        default=False,
        description="Hold a new best epoch's checkpoint in memory (a copy of the weights and "
        "training state) and write it when training ends, is interrupted or fails, instead of "
        "at every improvement. With every_epochs and every_steps null a run writes one or two "
        "checkpoints in all (the default of sweep trials, sweep.checkpoint: end).",
    )


class DistributedSpec(Section):
    """Data-parallel training (``trainspec train --nproc N`` or ``torchrun``)."""

    backend: Literal["auto", "gloo", "nccl"] = Field(
        default="auto", description="auto: nccl on CUDA devices, gloo on the CPU."
    )
    timeout_s: int = Field(
        default=300,
        ge=10,
        description="Process-group timeout: a collective waiting this long for a lost rank "
        "ends the job.",
    )
    find_unused_parameters: bool = Field(
        default=False, description="For models whose forward leaves trainable parameters unused."
    )


class TrainSpec(Section):
    epochs: int = Field(default=10, ge=1)
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many steps.")
    batch_size: int = Field(default=32, ge=1)
    batch_size_scope: Literal["process", "global"] = Field(
        default="process",
        description="process: batch_size is per process (the global batch grows with the "
        "number of processes); global: batch_size is split over the processes.",
    )
    eval_batch_size: int | None = Field(default=None, ge=1)
    shuffle: bool = True
    drop_last: bool = False
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    scheduler: SchedulerSpec | None = None
    loss: LossSpec = Field(default_factory=LossSpec)
    metrics: list[str] = Field(
        default_factory=list, description="Default: accuracy (classification) or rmse."
    )
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    early_stopping: EarlyStoppingSpec | None = None
    grad_clip_norm: float | None = Field(default=None, gt=0)
    accumulate_steps: int = Field(default=1, ge=1)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False
    sync_batchnorm: bool = Field(
        default=False, description="SyncBatchNorm across processes (CUDA only)."
    )
    distributed: DistributedSpec = Field(default_factory=DistributedSpec)
    device: str = Field(default="auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")
    deterministic: bool = Field(
        default=True, description="torch.use_deterministic_algorithms (warn only) while training."
    )
    nan_policy: Literal["fail", "skip"] = "fail"
    progress: Literal["auto", "bar", "lines", "none"] = Field(
        default="auto", description="auto: a bar on a terminal, one line per epoch otherwise."
    )
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    resume: bool = False
    refit: bool = Field(
        default=False,
        description="After k-fold cross-validation, train one more model on all non-test data "
        "for the mean over folds of each fold's best epoch (rounded, at least 1); it becomes "
        "the run's model (RUN/model, RUN/checkpoints). Needs a k-fold data.split.method.",
    )
