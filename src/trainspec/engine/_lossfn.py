"""``LossFn``: a loss module applied to ``(output, batch)``, with the shapes, masks and weights
of the batch handled; shared by the built-in losses and users' own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from trainspec.data import MASK, TARGET, WEIGHT, Batch
from trainspec.errors import SpecError

__all__ = ["Aligned", "LossFn"]


@dataclass
class Aligned:
    """Output and target in matching shapes; ``valid`` marks rows that count (None: all)."""

    out: Tensor
    target: Tensor
    weight: Tensor | None
    valid: Tensor | None


class LossFn:
    """Applies a loss module to ``(output, batch)``, handling shapes, masks and weights."""

    def __init__(self, module: nn.Module, *, class_targets: bool, ignore_index: int) -> None:
        self.module = module
        self._loss: Any = module  # its ``reduction`` is switched per call
        self._reduction = ""
        self.class_targets = class_targets
        self.ignore_index = ignore_index

    def align(self, out: Tensor, batch: Batch) -> Aligned:
        target = batch[TARGET]
        weight = batch.get(WEIGHT)
        mask = batch.get(MASK)
        if out.dtype in (torch.float16, torch.bfloat16):
            out = out.float()
        if self.class_targets:
            if out.dim() > 2:  # (B, T, C) with (B, T): one row per position
                if weight is not None:  # per sample (B,) or per step (B, T)
                    shape = (*weight.shape, *[1] * (target.dim() - weight.dim()))
                    weight = weight.reshape(shape).expand_as(target).reshape(-1)
                out, target = out.reshape(-1, out.shape[-1]), target.reshape(-1)
            return Aligned(out, target, weight, target != self.ignore_index)
        if out.dim() == target.dim() + 1 and out.shape[-1] == 1:
            out = out.squeeze(-1)
        target = target.to(out.dtype)
        valid = None
        if mask is not None and mask.shape == target.shape[: mask.dim()] and mask.dim() > 1:
            valid = mask.reshape(*mask.shape, *[1] * (target.dim() - mask.dim())).expand_as(target)
        return Aligned(out, target, weight, valid)

    def _reduce(self, mode: str) -> None:
        if self._reduction != mode:
            self._loss.reduction = mode
            self._reduction = mode

    def __call__(self, out: Tensor, batch: Batch) -> Tensor:
        if (
            self.class_targets
            and out.dim() == 2
            and out.dtype == torch.float32
            and WEIGHT not in batch
        ):  # the common case, kept lean for the hot loop
            self._reduce("mean")
            fast: Tensor = self._loss(out, batch[TARGET])
            return fast
        a = self.align(out, batch)
        if a.weight is None and (self.class_targets or a.valid is None):
            self._reduce("mean")
            result: Tensor = self._loss(a.out, a.target)
            return result
        self._reduce("none")
        per: Tensor = self._loss(a.out, a.target)  # (N,) or like the target
        w = torch.ones_like(per) if a.weight is None else a.weight.to(per.dtype)
        while w.dim() < per.dim():
            w = w.unsqueeze(-1)
        w = w.expand_as(per)
        if a.valid is not None:
            w = w * a.valid.to(per.dtype)
        return (per * w).sum() / w.sum().clamp_min(torch.finfo(per.dtype).tiny)

    def check(self, out: Tensor, batch: Batch, *, num_classes: int | None) -> None:
        """Shapes and dtypes of the first batch against the loss; ``SpecError`` on mismatch."""
        target = batch[TARGET]
        name = type(self.module).__name__
        shapes = f"output {tuple(out.shape)}, target {tuple(target.shape)}"
        if self.class_targets:
            if target.is_floating_point():
                raise SpecError.single(
                    f"loss {name} needs integer class targets, but the data's targets are "
                    f"{target.dtype} (a regression target)",
                    path=("train", "loss", "name"),
                    hint="use a regression loss such as MSELoss, or task: classification "
                    "with integer labels",
                )
            if out.dim() != target.dim() + 1 or tuple(out.shape[:-1]) != tuple(target.shape):
                raise SpecError.single(
                    f"loss {name} needs outputs (B, C) for targets (B,) or (B, T, C) for "
                    f"(B, T); got {shapes}",
                    path=("model",),
                )
            if num_classes is not None and out.shape[-1] != num_classes:
                raise SpecError.single(
                    f"the model outputs {out.shape[-1]} classes (last dimension of output "
                    f"{tuple(out.shape)}) but the data has {num_classes}",
                    path=("model",),
                    hint=f"set the model's last layer to {num_classes} outputs",
                )
            return
        a = self.align(out, batch)
        if a.out.shape != a.target.shape:
            raise SpecError.single(
                f"loss {name} needs outputs shaped like the targets; got {shapes}",
                path=("train", "loss", "name"),
                hint="match the model's output size to the target, or use a class loss "
                "(CrossEntropyLoss) for class labels",
            )
