"""Losses from the ``train.loss`` section, applied to model outputs and batches.

Every ``torch.nn`` loss is registered under its class name (kind ``loss``), with a few short
aliases; ``auto`` is cross-entropy for classification and MSE for regression. Outputs of shape
(B, C) go with class targets (B,); sequence outputs (B, T, C) with targets (B, T) are flattened
and positions whose target is the ignore index (-100) do not count. A batch ``weight`` (B,)
turns the loss into a weighted mean over samples.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from trainspec.data import MASK, TARGET, WEIGHT, Batch
from trainspec.errors import SpecError
from trainspec.registry import registry
from trainspec.spec import LossSpec

from ._params import build_checked

__all__ = ["DEFAULT_IGNORE_INDEX", "RESERVED", "LossFn", "balanced_weights", "build_loss"]

log = logging.getLogger(__name__)

DEFAULT_IGNORE_INDEX = -100
# Losses whose target is a class index rather than a value like the output.
_CLASS_TARGET = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)
_ALIASES = {
    "cross_entropy": nn.CrossEntropyLoss,
    "nll": nn.NLLLoss,
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "mae": nn.L1Loss,
    "huber": nn.HuberLoss,
    "smooth_l1": nn.SmoothL1Loss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
}
RESERVED = {
    "reduction": "the engine reduces the loss: a mean, or a weighted mean with batch weights",
    "weight": "set class weights with train.loss.class_weights",
}


def _register() -> None:
    for name in dir(nn):
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.modules.loss._Loss):
            registry.add("loss", name, obj)
    for alias, cls in _ALIASES.items():
        registry.add("loss", alias, cls)


_register()


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


def balanced_weights(targets: np.ndarray, num_classes: int, ignore_index: int) -> list[float]:
    """``n / (C * count_c)`` per class, as scikit-learn's ``class_weight='balanced'``.

    A class absent from the training targets gets weight 1.
    """
    labels = targets[targets != ignore_index].astype(np.int64).ravel()
    counts = np.bincount(labels, minlength=num_classes)[:num_classes]
    missing = [c for c in range(num_classes) if counts[c] == 0]
    if missing:
        log.warning(
            "class_weights: balanced: classes %s never occur in the training targets; "
            "they get weight 1",
            missing,
        )
    n = counts.sum()
    return [float(n / (num_classes * c)) if c else 1.0 for c in counts]


def _resolve(name: str, allow: Iterable[str]) -> Any:
    from trainspec.errors import RegistryError

    lowered = {n.lower(): n for n in registry.names("loss")}
    name = lowered.get(name.lower(), name) if "." not in name else name
    try:
        return registry.resolve("loss", name, allow=allow)
    except RegistryError as exc:
        raise SpecError.single(str(exc), path=("train", "loss", "name")) from None


def _is_loss_class(obj: Any) -> bool:
    """A ``torch.nn`` loss, or a user's subclass of one (which follows their conventions:
    ``reduction``, (N, C) outputs with (N,) targets)."""
    return isinstance(obj, type) and issubclass(obj, nn.modules.loss._Loss)


def build_loss(
    spec: LossSpec,
    *,
    task: str,
    num_classes: int | None,
    train_targets: np.ndarray | None = None,
    allow: Iterable[str] = (),
    output_kind: str = "logits",
) -> LossFn:
    """The loss of ``spec`` for ``task``; ``train_targets`` feed ``class_weights: balanced``.

    Model outputs reach ``torch.nn`` losses as logits (a module returning probabilities has
    them turned into log-probabilities, so cross-entropy is their negative log-likelihood);
    a user's loss gets them in the form ``output_kind`` (or ``call.outputs``) names.
    """
    path = ("train", "loss")
    if spec.name == "auto":
        cls: Any = nn.CrossEntropyLoss if task == "classification" else nn.MSELoss
    else:
        cls = _resolve(spec.name, allow)
    own = not cls.__module__.startswith("torch.") if isinstance(cls, type) else True
    if not _is_loss_class(cls) or (own and spec.call is not None):
        return _user_loss(spec, cls, task=task, output_kind=output_kind)
    if spec.call is not None:
        raise SpecError.single(
            f"call: describes how a user's loss is called; {cls.__name__} is a torch.nn loss "
            "that trainspec calls itself",
            path=(*path, "call"),
            hint="remove train.loss.call",
        )
    class_targets = isinstance(cls, type) and issubclass(cls, _CLASS_TARGET)
    if class_targets and task == "regression":
        raise SpecError.single(
            f"loss {cls.__name__} takes class labels, but the task is regression",
            path=(*path, "name"),
            hint="use MSELoss, L1Loss or HuberLoss",
        )
    args = dict(spec.model_extra or {})
    ignore_index = DEFAULT_IGNORE_INDEX if spec.ignore_index is None else spec.ignore_index
    if spec.ignore_index is not None:
        if not class_targets:
            raise SpecError.single(
                f"loss {cls.__name__} has no ignore_index", path=(*path, "ignore_index")
            )
        args["ignore_index"] = spec.ignore_index
    fixed: dict[str, Any] = {}
    if spec.class_weights is not None:
        fixed["weight"] = _class_weights(
            spec, cls, class_targets, num_classes, train_targets, ignore_index
        )
    module = build_checked(
        cls, args, path=path, what=f"loss {cls.__name__}", reserved=RESERVED, **fixed
    )
    return LossFn(module, class_targets=class_targets, ignore_index=ignore_index)


def _user_loss(spec: LossSpec, obj: Any, *, task: str, output_kind: str) -> LossFn:
    from ._user_loss import build_user_loss

    path = ("train", "loss")
    for key in ("class_weights", "ignore_index"):
        if getattr(spec, key) is not None:
            raise SpecError.single(
                f"{key} applies to torch.nn losses; {spec.name} is your own loss",
                path=(*path, key),
                hint="pass class weights as a parameter of your loss, or drop the key",
            )
    return build_user_loss(
        obj,
        spec.name,
        dict(spec.model_extra or {}),
        spec.call,
        output_kind=output_kind,
        class_targets=task == "classification",
        ignore_index=DEFAULT_IGNORE_INDEX,
    )


def _class_weights(
    spec: LossSpec,
    cls: Any,
    class_targets: bool,
    num_classes: int | None,
    train_targets: np.ndarray | None,
    ignore_index: int,
) -> Tensor:
    path = ("train", "loss", "class_weights")
    if not class_targets:
        raise SpecError.single(
            f"loss {cls.__name__} takes no class weights",
            path=path,
            hint="use CrossEntropyLoss, or pos_weight for BCEWithLogitsLoss",
        )
    if num_classes is None:
        raise SpecError.single("class weights need the number of classes", path=path)
    if spec.class_weights == "balanced":
        if train_targets is None:
            raise SpecError.single("balanced class weights need the training targets", path=path)
        weights = balanced_weights(train_targets, num_classes, ignore_index)
    else:
        weights = list(spec.class_weights or [])
        if len(weights) != num_classes:
            raise SpecError.single(
                f"{len(weights)} class weights given for {num_classes} classes",
                path=path,
                hint=f"give one weight per class ({num_classes}) or 'balanced'",
            )
    return torch.tensor(weights, dtype=torch.float32)
