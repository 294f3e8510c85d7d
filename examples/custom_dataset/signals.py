"""A user's own map-style Dataset: `__init__`, `__len__` and `__getitem__`, nothing else.

Each item is a short noisy signal whose class is its dominant frequency band.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset


class SineBands(Dataset[tuple[torch.Tensor, int]]):
    def __init__(self, n: int = 600, length: int = 128, n_classes: int = 3, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, n_classes, (n,), generator=gen)
        t = torch.arange(length) / length
        freq = 2.0 + 4.0 * self.labels.float() + torch.rand(n, generator=gen)
        phase = 2 * math.pi * torch.rand(n, 1, generator=gen)
        clean = torch.sin(2 * math.pi * freq[:, None] * t[None, :] + phase)
        self.signals = (clean + 0.5 * torch.randn(n, length, generator=gen)).unsqueeze(1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.signals[i], int(self.labels[i])
