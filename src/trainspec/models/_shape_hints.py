"""What a block that failed its probe expected, for shape-mismatch messages."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["dtype_hint", "expectation"]


def expectation(module: nn.Module) -> str:
    if isinstance(module, nn.modules.conv._ConvNd):
        axes = (
            ("L",) if len(module.kernel_size) == 1 else ("H", "W", "D")[: len(module.kernel_size)]
        )
        return (
            f"; it expects (C, {', '.join(axes)}) without the batch axis, "
            f"with C = in_channels = {module.in_channels}"
        )
    for attr, axis in (
        ("in_features", "last"),
        ("in_channels", "first"),
        ("input_size", "last"),
        ("num_features", "first"),
        ("normalized_shape", "last"),
        ("embed_dim", "last"),
    ):
        value = getattr(module, attr, None)
        if value is not None:
            return f"; it expects {attr}={value} on the {axis} axis"
    return ""


def dtype_hint(exc: Exception, variants: list[list[torch.Tensor]]) -> str:
    """A block that wants integer ids (an embedding) was probed with floats."""
    wants_ints = any(w in str(exc) for w in ("Long", "Int", "indices"))
    if wants_ints and any(t.is_floating_point() for args in variants for t in args):
        return (
            ". If an input holds integer ids, declare it in model.inputs as "
            "{shape: [...], dtype: int64}"
        )
    return ""
