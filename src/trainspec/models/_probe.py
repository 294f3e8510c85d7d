"""Probe batches: small tensors pushed through a network while it is built, to learn each
block's output shape. Variable axes (None) are tried at two stand-in lengths; an output axis
that differs between the two is variable too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

__all__ = [
    "PROBE_BATCH",
    "STAND_INS",
    "Shape",
    "fmt_shape",
    "fmt_shapes",
    "make_probes",
    "symbolic",
]

Shape = tuple[int | None, ...]
PROBE_BATCH = 2
STAND_INS = (32, 48)  # lengths for variable axes; far enough apart to survive pooling


def fmt_shape(shape: Sequence[int | None]) -> str:
    """``(None, 1, 1920)`` -> ``(B, ?, 1, 1920)``."""
    return "(" + ", ".join(["B", *("?" if s is None else str(s) for s in shape)]) + ")"


def fmt_shapes(shapes: Sequence[Sequence[int | None]]) -> str:
    return ", ".join(fmt_shape(s) for s in shapes)


def _probe(shape: tuple[int, ...], dtype: str, gen: torch.Generator) -> torch.Tensor:
    if dtype == "int64":
        # 0 or 1: a valid id for any vocabulary (embedding tables have at least two rows)
        # and a valid attention mask.
        return torch.randint(0, 2, (PROBE_BATCH, *shape), generator=gen, dtype=torch.int64)
    return torch.randn(PROBE_BATCH, *shape, generator=gen)


def make_probes(
    shapes: Mapping[str, Shape],
    generator: torch.Generator | None = None,
    dtypes: Mapping[str, str] | None = None,
) -> list[dict[str, torch.Tensor]]:
    """One dict of random inputs per variant: one variant, or two when an axis is variable.
    Inputs are float32 unless ``dtypes`` names them ``int64``."""
    variable = any(s is None for shape in shapes.values() for s in shape)
    lengths = STAND_INS if variable else STAND_INS[:1]
    gen = generator or torch.Generator().manual_seed(0)
    kinds = dtypes or {}
    return [
        {
            name: _probe(
                tuple(length if s is None else s for s in shape),
                kinds.get(name, "float32"),
                gen,
            )
            for name, shape in shapes.items()
        }
        for length in lengths
    ]


def symbolic(outputs: Sequence[torch.Tensor]) -> Shape:
    """The shape (without batch) of a block's outputs on each variant; None where they differ."""
    first = tuple(outputs[0].shape[1:])
    if any(o.dim() != outputs[0].dim() for o in outputs):
        return tuple(None for _ in first)
    return tuple(
        first[axis] if all(o.shape[axis + 1] == first[axis] for o in outputs) else None
        for axis in range(len(first))
    )
