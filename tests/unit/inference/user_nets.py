"""A user's module for the serving tests, imported by path (allow_imports: tests.unit.inference)."""

from __future__ import annotations

import os
import time

import torch
from torch import nn


class SlowNet(nn.Module):
    """A linear classifier that sleeps ``TRAINSPEC_TEST_DELAY`` seconds per forward, so a test
    can hold requests in flight while it stops the server."""

    def __init__(self, in_features: int, n_classes: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delay = float(os.environ.get("TRAINSPEC_TEST_DELAY", "0"))
        if delay:
            time.sleep(delay)
        out: torch.Tensor = self.linear(x)
        return out
