"""A user's own code, imported by path in the tests (allow_imports: tests.unit.models)."""

from __future__ import annotations

import torch
from torch import nn

from trainspec.models import register_block


class SleepNet(nn.Module):
    """Built from a flat net_params.json: every constructor argument is a plain number."""

    def __init__(
        self,
        n_samples: int,
        n_features: int,
        n_filters: int = 4,
        n_classes: int = 5,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, n_filters, kernel_size=5, padding=2)
        self.tab = nn.Linear(n_features, n_filters)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * n_filters, n_classes)
        self.n_samples = n_samples

    def forward(
        self, ecg_input: torch.Tensor, additional_input: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = ecg_input.shape[:2]
        wave = self.conv(ecg_input.flatten(0, 1)).amax(dim=-1).unflatten(0, (b, t))  # (B, T, F)
        features = torch.cat([wave, self.tab(additional_input)], dim=-1)
        logits = self.head(self.drop(features))  # (B, T, classes)
        return logits, features


class DictNet(nn.Module):
    """Returns a dict; the spec picks one entry with output: <key>."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.body = nn.Linear(n_in, n_out)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.body(x) * self.scale, "features": x}


@register_block("unit_gated_dense")
class GatedDense(nn.Module):
    """A user block: its in_features is filled from the input's last axis."""

    def __init__(self, in_features: int, units: int) -> None:
        super().__init__()
        self.value = nn.Linear(in_features, units)
        self.gate = nn.Linear(in_features, units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gated: torch.Tensor = self.value(x) * torch.sigmoid(self.gate(x))
        return gated


@register_block
def unit_scaled_pair(in_shapes: list[tuple[int | None, ...]], weight: float = 0.5) -> nn.Module:
    """A user block as a function of all its inputs' shapes (two inputs of one shape)."""
    if len(in_shapes) != 2 or in_shapes[0] != in_shapes[1]:
        raise ValueError(f"unit_scaled_pair takes two inputs of one shape; got {in_shapes}")
    return _WeightedSum(weight)


class _WeightedSum(nn.Module):
    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.weight * a + (1 - self.weight) * b


def not_a_model(size: int) -> list[int]:
    return [size]


class MajorityClassifier:
    """A user's estimator: predicts the most frequent class seen in fit."""

    def __init__(self, smoothing: float = 0.0) -> None:
        self.smoothing = smoothing

    def fit(self, X: object, y: object) -> MajorityClassifier:
        import numpy as np

        labels = np.asarray(y)
        self.classes_, counts = np.unique(labels, return_counts=True)
        self.majority_ = self.classes_[counts.argmax()]
        return self

    def predict(self, X: object) -> object:
        import numpy as np

        return np.full(len(X), self.majority_)  # type: ignore[arg-type]
