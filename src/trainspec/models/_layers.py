"""Small pieces the composite blocks share: activations by name, norms, shape helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "LastAxisBatchNorm",
    "fixed",
    "make_activation",
    "per_layer",
    "unbatched_axis",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "mish": nn.Mish,
    "identity": nn.Identity,
}

Shape = tuple[int | None, ...]


def make_activation(name: str | None) -> nn.Module:
    """``"relu"`` or a ``torch.nn`` activation class name (``"LeakyReLU"``); None: identity."""
    if name is None or name == "none":
        return nn.Identity()
    cls = ACTIVATIONS.get(name.lower())
    if cls is None:
        candidate = getattr(nn, name, None)
        if isinstance(candidate, type) and issubclass(candidate, nn.Module):
            cls = candidate
    if cls is None:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; use one of {known} or a torch.nn name")
    return cls()


def per_layer(value: Any, count: int, name: str) -> list[Any]:
    """One value per layer: a scalar repeated, or a list of exactly ``count`` values."""
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(
                f"{name} has {len(value)} values but there are {count} layers; give one value "
                "or one per layer"
            )
        return list(value)
    return [value] * count


def unbatched_axis(axis: int, rank: int, name: str = "dim") -> int:
    """A possibly negative axis of an unbatched shape of ``rank``, as a non-negative index."""
    if not -rank <= axis < rank:
        raise ValueError(f"{name}={axis} is out of range for an input of rank {rank} (no batch)")
    return axis % rank


def fixed(shape: Sequence[int | None], axis: int, what: str) -> int:
    """The size of ``axis``, which must not be variable (None) because ``what`` needs it."""
    size = shape[axis]
    if size is None:
        raise ValueError(
            f"{what} needs a fixed size on axis {axis} of the input shape {tuple(shape)}, "
            "which is variable (null)"
        )
    return size


class LastAxisBatchNorm(nn.BatchNorm1d):
    """Batch norm over the features on the last axis of (B, ..., F), such as (B, T, F)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return super().forward(x)
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)
