"""Blocks that move axes or merge inputs. Axes never count the batch axis."""

from __future__ import annotations

import math

import torch
from torch import nn

from trainspec.models._layers import Shape, unbatched_axis

__all__ = ["Add", "Concat", "Flatten", "Multiply", "Permute", "Reshape"]


class Flatten(nn.Module):
    """Axes ``start``..``end`` (without the batch axis) flattened into one: (C, L) -> (C*L,)."""

    def __init__(self, in_shape: Shape, start: int = 0, end: int = -1) -> None:
        super().__init__()
        rank = len(in_shape)
        self.start = unbatched_axis(start, rank, "start") + 1
        self.end = unbatched_axis(end, rank, "end") + 1
        if self.end < self.start:
            raise ValueError(f"end={end} comes before start={start} in {in_shape}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(self.start, self.end)


class Reshape(nn.Module):
    """A new shape without the batch axis; one entry may be -1 (inferred)."""

    def __init__(self, in_shape: Shape, shape: list[int]) -> None:
        super().__init__()
        if shape.count(-1) > 1 or any(s == 0 or s < -1 for s in shape):
            raise ValueError(f"shape {shape} may hold positive sizes and at most one -1")
        if None not in in_shape and -1 not in shape:
            size = math.prod(s for s in in_shape if s is not None)
            if math.prod(shape) != size:
                raise ValueError(f"cannot reshape {in_shape} ({size} values) to {tuple(shape)}")
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class Permute(nn.Module):
    """The axes (without the batch axis) in a new order: ``dims: [1, 0]`` turns (C, T) to (T, C)."""

    def __init__(self, in_shape: Shape, dims: list[int]) -> None:
        super().__init__()
        rank = len(in_shape)
        order = [unbatched_axis(d, rank, "dims") for d in dims]
        if sorted(order) != list(range(rank)):
            raise ValueError(f"dims {dims} is not an order of the {rank} axes of {in_shape}")
        self.dims = (0, *(d + 1 for d in order))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


def _check_merge(in_shapes: list[Shape], skip_axis: int | None, what: str) -> None:
    if len(in_shapes) < 2:
        raise ValueError(f"{what} needs at least two inputs (in: [a, b]); got {len(in_shapes)}")
    ranks = {len(s) for s in in_shapes}
    if len(ranks) > 1:
        raise ValueError(f"{what} needs inputs of one rank; got shapes {in_shapes}")
    for axis in range(len(in_shapes[0])):
        if axis == skip_axis:
            continue
        sizes = {s[axis] for s in in_shapes if s[axis] is not None}
        if len(sizes) > 1:
            raise ValueError(
                f"{what} needs equal sizes on axis {axis}; got shapes "
                f"{', '.join(map(str, in_shapes))}"
            )


class Concat(nn.Module):
    """Inputs concatenated along ``dim`` (without the batch axis; default the last)."""

    def __init__(self, in_shapes: list[Shape], dim: int = -1) -> None:
        super().__init__()
        rank = len(in_shapes[0]) if in_shapes else 0
        axis = unbatched_axis(dim, rank, "dim") if rank else 0
        _check_merge(in_shapes, axis, "concat")
        self.dim = axis + 1

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)


class Add(nn.Module):
    """The sum of inputs of one shape (an explicit residual connection)."""

    def __init__(self, in_shapes: list[Shape]) -> None:
        super().__init__()
        _check_merge(in_shapes, None, "add")

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    """The element-wise product of inputs of one shape (gating)."""

    def __init__(self, in_shapes: list[Shape]) -> None:
        super().__init__()
        _check_merge(in_shapes, None, "multiply")

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out
