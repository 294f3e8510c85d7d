"""Modules written the way published research code often is, for the constructor and output
convention tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class DictNet(nn.Module):
    """A positional scale, the whole parameter mapping, and a sample to read sizes from."""

    def __init__(
        self, scale: float, net_parameters: dict[str, Any], collated_sample: dict[str, Any]
    ) -> None:
        super().__init__()
        self.scale = scale
        self.seen = {k: tuple(v.shape) for k, v in collated_sample.items()}
        self.linear = nn.Linear(collated_sample["x"].shape[-1], int(net_parameters["n_classes"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * self.scale


class MaskedSeqNet(nn.Module):
    """forward(x, mask, lengths) over records (B, T, F); per-step probabilities (B, T, C)."""

    def __init__(self, net_parameters: dict[str, Any], collated_sample: dict[str, Any]) -> None:
        super().__init__()
        self.sample = {k: (tuple(v.shape), v.dtype) for k, v in collated_sample.items()}
        self.linear = nn.Linear(collated_sample["x"].shape[-1], int(net_parameters["n_classes"]))
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        assert mask.dtype == torch.bool and lengths.dtype == torch.int64
        assert torch.equal(mask.sum(dim=1), lengths)
        self.calls.append((mask, lengths))
        return torch.softmax(self.linear(x), dim=-1)


class ProbNet(nn.Module):
    """Returns ``(probabilities, features)``: softmax over a fixed linear map."""

    def __init__(self, in_features: int, n_classes: int, log: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, n_classes)
        self.log = log

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.linear(x)
        out = torch.log_softmax(z, dim=-1) if self.log else torch.softmax(z, dim=-1)
        return out, z


class WeightedLoss(nn.Module):
    """(targets, outputs, weights) in that order, recording what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, torch.Tensor]] = []

    def forward(
        self, targets: torch.Tensor, probabilities: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        self.seen.append({"targets": targets, "outputs": probabilities, "weights": weights})
        picked = probabilities.gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1)
        return -(torch.log(picked) * weights).sum() / weights.sum()


def per_sample_nll(log_probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """One value per sample: trainspec averages them with the batch weights."""
    return -log_probabilities.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


class WeightedInputNet(nn.Module):
    """forward(x, weight): a module that reads the sample weights (ones at inference)."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 2)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        self.seen.append(weight)
        return self.linear(x) * weight.unsqueeze(-1)


class SigmoidNet(nn.Module):
    """One column: the probability of the positive class."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x))
