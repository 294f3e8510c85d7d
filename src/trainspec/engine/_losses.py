"""Losses from the ``train.loss`` section, applied to model outputs and batches.

Every ``torch.nn`` loss is registered under its class name (kind ``loss``), with a few short
aliases; ``auto`` is cross-entropy for classification and MSE for regression. Outputs of shape
(B, C) go with class targets (B,); sequence outputs (B, T, C) with targets (B, T) are flattened
and positions whose target is the ignore index (-100) do not count. A batch ``weight`` (B,)
turns the loss into a weighted mean over samples.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from trainspec.data import TARGET, BatchSource, balanced_class_weights
from trainspec.errors import SpecError
from trainspec.registry import instantiate, lookup, registry
from trainspec.spec import LossSpec

from ._lossfn import LossFn
from ._user_loss import build_user_loss

__all__ = ["DEFAULT_IGNORE_INDEX", "RESERVED", "build_loss", "collect_targets"]

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


def collect_targets(source: BatchSource, batch_size: int) -> np.ndarray:
    """All targets of ``source``: its ``targets`` attribute when it has one, else one pass."""
    targets = getattr(source, "targets", None)
    if callable(targets):
        targets = targets()
    if targets is not None:
        return np.asarray(targets)
    order = np.arange(len(source), dtype=np.int64)
    chunks = [b[TARGET].cpu().numpy() for b in source.iter_batches(order, max(batch_size, 1024))]
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)


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
        name = cls.__name__
    else:
        name, cls = lookup("loss", spec.name, (*path, "name"), allow)
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
    module = instantiate(
        "loss", {"name": name, **args}, path, target=cls, fixed=fixed, reserved=RESERVED
    )
    return LossFn(module, class_targets=class_targets, ignore_index=ignore_index)


def _user_loss(spec: LossSpec, obj: Any, *, task: str, output_kind: str) -> LossFn:
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
        weights = balanced_class_weights(train_targets, num_classes, ignore_index=ignore_index)
    else:
        weights = np.asarray(spec.class_weights or [], dtype=np.float64)
        if len(weights) != num_classes:
            raise SpecError.single(
                f"{len(weights)} class weights given for {num_classes} classes",
                path=path,
                hint=f"give one weight per class ({num_classes}) or 'balanced'",
            )
    return torch.as_tensor(weights, dtype=torch.float32)
