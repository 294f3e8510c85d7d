"""Tiny data and models for engine tests: an in-memory BatchSource and small modules."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from trainspec.data._batch import Batch


class ArraySource:
    """A BatchSource over in-memory tensors, served by batch indexing.

    ``noise`` > 0 adds Gaussian noise drawn from the augmentation generator, so tests see
    whether the generator is restored on resume.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], noise: float = 0.0) -> None:
        self.tensors = tensors
        self.noise = noise

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def iter_batches(
        self,
        order: np.ndarray,
        batch_size: int,
        *,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[Batch]:
        idx = torch.as_tensor(order, dtype=torch.long)
        stop = len(idx) - len(idx) % batch_size if drop_last else len(idx)
        for start in range(0, stop, batch_size):
            rows = idx[start : start + batch_size]
            batch = {k: v[rows] for k, v in self.tensors.items()}
            if generator is not None and self.noise:
                x = batch["x"]
                batch["x"] = x + self.noise * torch.randn(x.shape, generator=generator)
            batch["index"] = rows
            yield batch


def classification_data(
    n: int = 96, features: int = 8, classes: int = 3, seed: int = 0
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    w = torch.randn(features, classes, generator=g)
    y = (x @ w).argmax(dim=1)
    return {"x": x, "target": y}


def regression_data(n: int = 96, features: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = x @ torch.randn(features, generator=g) + 0.1 * torch.randn(n, generator=g)
    return {"x": x, "target": y}


def mlp(features: int = 8, out: int = 3, hidden: int = 16, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out)
    )
