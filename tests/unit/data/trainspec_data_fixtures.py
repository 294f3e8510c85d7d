"""A user-written Dataset with the three dunders, referenced by import path in the tests."""

from __future__ import annotations

from typing import Any

import torch


class ToyDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    def __init__(self, n: int = 40, width: int = 5) -> None:
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, width, generator=gen)
        self.y = [i % 2 for i in range(n)]
        self.subject = [f"s{i % 8}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], self.y[i]


def stack_collate(items: list[Any]) -> dict[str, torch.Tensor]:
    xs, ys = zip(*items, strict=True)
    return {"x": torch.stack(xs), "target": torch.tensor(ys)}
