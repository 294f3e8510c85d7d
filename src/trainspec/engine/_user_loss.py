"""Users' losses, by import path or registered name, called as ``train.loss.call`` says.

A user's subclass of a ``torch.nn`` loss without ``call`` is called as the ``torch.nn`` losses
are (flattened (N, C) outputs, weights applied through ``reduction='none'``); any other loss,
or one with ``call``, follows this contract.

The call contract: the loss (a class, built with the spec's extra keys, or a function, called
with them as keywords) is called with positional arguments in the order ``call.args`` names:

- ``outputs``: (B, C) or (B, T, C) (``layout: channels_first``: (B, C, T)), in the form
  ``call.outputs`` (default: what the model returns, ``model.output.kind``); (B,) or (B, T)
  values for regression;
- ``targets``: (B,) or (B, T) class indices (int64; -100 at padded steps) or values;
- ``weight``: per-sample (B,) or per-step (B, T) weights; ones when the data has none;
- ``mask``: (B, T) bool, True at real steps (all True for unpadded data; (B,) for rows).

It returns a scalar, used as it is, or one value per sample / step (shaped like the targets),
which trainspec averages with the weights over the real, labelled positions.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from trainspec.data import MASK, TARGET, WEIGHT, Batch
from trainspec.errors import SpecError
from trainspec.models import from_scores
from trainspec.registry import instantiate
from trainspec.spec import LossCallSpec

from ._lossfn import LossFn

__all__ = ["UserLossFn", "build_user_loss"]

_PATH = ("train", "loss")


class UserLossFn(LossFn):
    """Calls a user's loss with the arguments ``call`` names, in the form it takes them."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        call: LossCallSpec,
        *,
        output_kind: str,
        class_targets: bool,
        ignore_index: int,
    ) -> None:
        module = fn if isinstance(fn, nn.Module) else nn.Module()
        super().__init__(module, class_targets=class_targets, ignore_index=ignore_index)
        self.fn = fn
        self.name = name
        self.call = call
        self.kind = call.outputs or output_kind

    def _arguments(self, out: Tensor, batch: Batch) -> dict[str, Tensor]:
        target = batch[TARGET]
        if self.class_targets:
            out = from_scores(out.float(), self.kind)
            if self.call.layout == "channels_first" and out.dim() > 2:
                out = out.movedim(-1, 1)  # (B, T, C) -> (B, C, T)
        elif out.dim() == target.dim() + 1 and out.shape[-1] == 1:
            out = out.squeeze(-1)
        steps = target.shape[:2] if target.dim() > 1 else target.shape[:1]
        mask = batch.get(MASK)
        if mask is None or tuple(mask.shape) != tuple(steps):
            mask = torch.ones(steps, dtype=torch.bool, device=target.device)
        weight = batch.get(WEIGHT)
        if weight is None:
            weight = torch.ones(target.shape[:1], device=target.device)
        return {"outputs": out, "targets": target, "weight": weight, "mask": mask}

    def __call__(self, out: Tensor, batch: Batch) -> Tensor:
        values = self._arguments(out, batch)
        result = self.fn(*(values[a] for a in self.call.args))
        if not isinstance(result, Tensor):
            raise SpecError.single(
                f"loss {self.name} returned a {type(result).__name__}, not a tensor",
                path=(*_PATH, "name"),
            )
        if result.dim() == 0 or self.call.reduction == "mean":
            return result
        return self._weighted_mean(result, values)

    def _weighted_mean(self, per: Tensor, values: Mapping[str, Tensor]) -> Tensor:
        """Mean over real, labelled positions, weighted per sample or per step."""
        target = values["targets"]
        if tuple(per.shape) not in (tuple(target.shape), tuple(target.shape[:1])):
            raise SpecError.single(
                f"loss {self.name} returned values of shape {tuple(per.shape)}; a loss returns "
                f"a scalar or one value per sample or step (targets {tuple(target.shape)})",
                path=(*_PATH, "call", "reduction"),
            )
        w = values["weight"].to(per.dtype)
        if w.dim() > per.dim():  # per-step weights, per-sample values
            w = w.mean(dim=tuple(range(per.dim(), w.dim())))
        w = w.reshape(*w.shape, *[1] * (per.dim() - w.dim())).expand_as(per)
        mask = values["mask"]
        if mask.shape == per.shape:
            w = w * mask.to(per.dtype)
        if self.class_targets and target.shape == per.shape:
            w = w * (target != self.ignore_index).to(per.dtype)
        return (per * w).sum() / w.sum().clamp_min(torch.finfo(per.dtype).tiny)

    def check(self, out: Tensor, batch: Batch, *, num_classes: int | None) -> None:
        """Call the loss on the first batch and check what it returns."""
        if self.class_targets and num_classes is not None and out.shape[-1] != num_classes:
            raise SpecError.single(
                f"the model outputs {out.shape[-1]} classes (last dimension of output "
                f"{tuple(out.shape)}) but the data has {num_classes}",
                path=("model",),
            )
        try:
            self(out, batch)
        except SpecError:
            raise
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:
            shapes = ", ".join(
                f"{a} {tuple(v.shape)}"
                for a, v in self._arguments(out, batch).items()
                if a in self.call.args
            )
            raise SpecError.single(
                f"loss {self.name} failed on the first batch ({shapes}): {exc}",
                path=(*_PATH, "call"),
                hint="set train.loss.call: args (their order), outputs and layout to match "
                "the loss's signature",
            ) from exc


def build_user_loss(
    obj: Any,
    name: str,
    params: Mapping[str, Any],
    call: LossCallSpec | None,
    *,
    output_kind: str,
    class_targets: bool,
    ignore_index: int,
) -> UserLossFn:
    """A user's loss class (built with ``params``) or function (given them as keywords)."""
    call = call or LossCallSpec()
    if inspect.isclass(obj):
        fn = instantiate("loss", {"name": name, **params}, _PATH, target=obj)
    else:
        _check_function(obj, name, params, len(call.args))
        fn = functools.partial(obj, **params) if params else obj
    return UserLossFn(
        fn,
        name,
        call,
        output_kind=output_kind,
        class_targets=class_targets,
        ignore_index=ignore_index,
    )


def _check_function(fn: Any, name: str, params: Mapping[str, Any], n_args: int) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind_partial(*range(n_args), **params)
    except TypeError as exc:
        raise SpecError.single(
            f"loss {name} cannot take {n_args} arguments and {', '.join(params) or 'no'} "
            f"parameters: {exc}",
            path=(*_PATH, "name"),
            hint="list its positional arguments in train.loss.call.args",
        ) from None
