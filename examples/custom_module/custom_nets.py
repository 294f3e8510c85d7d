"""A user's own network: trainspec builds it from `net_params.json` by import path."""

from __future__ import annotations

import torch
from torch import nn


class TabularNet(nn.Module):
    """An MLP with a residual hidden block; its constructor takes plain parameters."""

    def __init__(self, n_features: int, hidden: int, n_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
        self.block = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = self.stem(features)
        return self.head(h + self.block(h))
