"""Convolution stacks, dense stacks and global pooling."""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import torch
from torch import nn

from trainspec.models._layers import (
    LastAxisBatchNorm,
    Shape,
    fixed,
    make_activation,
    per_layer,
    unbatched_axis,
)

__all__ = ["ConvStack", "DenseStack", "GlobalPool"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_POOL = {
    ("max", 1): nn.MaxPool1d,
    ("max", 2): nn.MaxPool2d,
    ("avg", 1): nn.AvgPool1d,
    ("avg", 2): nn.AvgPool2d,
}


def _conv_dim(in_shape: Shape, dim: int | None) -> int:
    rank_dim = len(in_shape) - 1
    if rank_dim not in (1, 2):
        raise ValueError(
            f"conv_stack takes (C, L) or (C, H, W) without the batch axis; got {in_shape}"
        )
    if dim is not None and dim != rank_dim:
        raise ValueError(f"dim={dim} but the input {in_shape} is {rank_dim}-d")
    return rank_dim


class ConvStack(nn.Sequential):
    """Convolutions over (B, C, L) or (B, C, H, W), each with norm, activation, dropout, pool.

    Layer ``k`` holds ``conv``, ``norm``, ``act``, ``drop`` and ``pool`` (those in use), in
    ``order``: ``conv_stack.0.conv.weight``. ``padding: same`` keeps the length at stride 1
    (and gives ceil(L / stride) with odd kernels otherwise).
    """

    def __init__(
        self,
        in_shape: Shape,
        channels: list[int] | int,
        kernel_size: list[int] | int = 3,
        stride: list[int] | int = 1,
        dilation: list[int] | int = 1,
        padding: Literal["same", "valid"] | int = "same",
        dim: Literal[1, 2] | None = None,
        norm: Literal["batch"] | None = "batch",
        activation: str | None = "relu",
        dropout: float = 0.0,
        pool: Literal["max", "avg"] | None = None,
        pool_size: int = 2,
        order: Literal["conv-norm-act", "conv-act-norm"] = "conv-norm-act",
        bias: bool | None = None,
    ) -> None:
        d = _conv_dim(in_shape, dim)
        chans = channels if isinstance(channels, list) else [channels]
        n = len(chans)
        kernels = per_layer(kernel_size, n, "kernel_size")
        strides = per_layer(stride, n, "stride")
        dilations = per_layer(dilation, n, "dilation")
        c_in = fixed(in_shape, 0, "conv_stack (its channel axis)")
        layers = []
        for c_out, k, s, dl in zip(chans, kernels, strides, dilations, strict=True):
            pad: str | int = padding
            if padding == "same" and s != 1:
                pad = dl * (k - 1) // 2  # torch refuses "same" for strided convolutions
            parts: OrderedDict[str, nn.Module] = OrderedDict()
            use_bias = norm is None if bias is None else bias
            parts["conv"] = _CONV[d](
                c_in, c_out, k, stride=s, padding=pad, dilation=dl, bias=use_bias
            )
            norm_layer = _NORM[d](c_out) if norm == "batch" else None
            if order == "conv-act-norm":
                parts["act"] = make_activation(activation)
            if norm_layer is not None:
                parts["norm"] = norm_layer
            if order == "conv-norm-act":
                parts["act"] = make_activation(activation)
            if dropout:
                parts["drop"] = nn.Dropout(dropout)
            if pool is not None:
                parts["pool"] = _POOL[(pool, d)](pool_size)
            layers.append(nn.Sequential(parts))
            c_in = c_out
        super().__init__(*layers)


class _DenseLayer(nn.Module):
    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str | None,
        dropout: float,
        norm: str | None,
        residual: bool,
        bias: bool,
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out, bias=bias)
        self.norm: nn.Module | None = None
        if norm == "batch":
            self.norm = LastAxisBatchNorm(n_out)
        elif norm == "layer":
            self.norm = nn.LayerNorm(n_out)
        self.act = make_activation(activation)
        self.drop = nn.Dropout(dropout) if dropout else None
        self.residual = residual
        # A projection only where the width changes, so equal widths add the input as is.
        self.skip = nn.Linear(n_in, n_out, bias=False) if residual and n_in != n_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.linear(x)
        if self.norm is not None:
            y = self.norm(y)
        y = self.act(y)
        if self.drop is not None:
            y = self.drop(y)
        if self.residual:
            y = y + (x if self.skip is None else self.skip(x))
        return y


class DenseStack(nn.Sequential):
    """Linear layers over the last axis of (B, ..., F), with norm, activation, dropout and
    optional residual connections (``dense_stack.0.linear.weight``; ``.skip`` projects the
    input where a layer changes the width). ``out`` adds a last plain Linear layer, with no
    activation, named ``out`` (``outer_dense.out.weight``): the logits of a classification
    head, so that "the head" is one block to freeze, unfreeze or replace."""

    def __init__(
        self,
        in_shape: Shape,
        units: list[int] | int,
        activation: str | None = "relu",
        dropout: float = 0.0,
        norm: Literal["batch", "layer"] | None = None,
        residual: bool = False,
        bias: bool = True,
        out: int | None = None,
    ) -> None:
        if not in_shape:
            raise ValueError("dense_stack needs at least one axis of features")
        n_in = fixed(in_shape, len(in_shape) - 1, "dense_stack (its feature axis)")
        layers = []
        for n_out in units if isinstance(units, list) else [units]:
            layers.append(_DenseLayer(n_in, n_out, activation, dropout, norm, residual, bias))
            n_in = n_out
        super().__init__(*layers)
        if out is not None:
            self.add_module("out", nn.Linear(n_in, out, bias=bias))


class GlobalPool(nn.Module):
    """Average, max, or both concatenated (``avgmax``) over whole axes.

    ``dims`` are axes without the batch axis; default: every axis after the first, the
    channels-first convention of (C, L) and (C, H, W). For a sequence (T, C) use ``dims: [0]``.
    With ``avgmax`` both results are concatenated along the last remaining axis.
    """

    def __init__(
        self,
        in_shape: Shape,
        mode: Literal["avg", "max", "avgmax"] = "avg",
        dims: list[int] | None = None,
    ) -> None:
        super().__init__()
        rank = len(in_shape)
        chosen = list(range(1, rank)) if dims is None else dims
        axes = sorted({unbatched_axis(a, rank, "dims") for a in chosen})
        if not axes:
            raise ValueError(f"global_pool has no axis to pool over in the input {in_shape}")
        if mode == "avgmax" and len(axes) == rank:
            raise ValueError("global_pool avgmax needs an axis left to concatenate along")
        self.mode = mode
        self.axes = tuple(a + 1 for a in axes)  # shift past the batch axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "avg":
            return x.mean(dim=self.axes)
        if self.mode == "max":
            return x.amax(dim=self.axes)
        return torch.cat([x.mean(dim=self.axes), x.amax(dim=self.axes)], dim=-1)
