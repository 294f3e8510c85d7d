"""A sleep stager written the way published research code often is, used by trainspec as it
is (no glue file): see docs/architectures.md, "Your own network, as published".

- the constructor takes the whole parameter mapping as one argument and an example batch,
  from which it reads the input sizes;
- forward takes the epochs of a night, their padding mask and the night lengths;
- forward returns softmax probabilities, (B, T, C);
- the loss takes (B, C, T) probabilities, the labels and per-epoch weights.

Nothing here imports trainspec.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class EpochNet(nn.Module):
    """Per-epoch features -> an encoder, night context from a masked mean, stage probabilities."""

    def __init__(self, net_parameters: dict[str, Any], collated_sample: dict[str, torch.Tensor]):
        super().__init__()
        n_features = collated_sample["x"].shape[-1]  # (B, T, F): probe the feature count
        hidden = int(net_parameters["hidden"])
        self.encoder = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.context = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(2 * hidden, int(net_parameters["n_stages"]))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)  # (B, T, H)
        m = mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1); padded epochs are 0
        night = (h * m).sum(dim=1) / lengths.clamp_min(1).unsqueeze(-1).to(h.dtype)  # (B, H)
        ctx = torch.tanh(self.context(night)).unsqueeze(1).expand_as(h)  # (B, T, H)
        logits = self.classifier(torch.cat([h, ctx], dim=-1))  # (B, T, C)
        return torch.softmax(logits, dim=-1)


class WeightedEpochLoss(nn.Module):
    """Weighted negative log-likelihood of (B, C, T) probabilities, per-epoch weights (B, T);
    epochs labelled ``ignore_index`` (padding) do not count."""

    def __init__(self, ignore_index: int = -100, eps: float = 1e-7) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.eps = eps

    def forward(
        self, probabilities: torch.Tensor, labels: torch.Tensor, epoch_weights: torch.Tensor
    ) -> torch.Tensor:
        valid = labels != self.ignore_index  # (B, T)
        picked = probabilities.gather(1, labels.clamp_min(0).unsqueeze(1)).squeeze(1)  # (B, T)
        nll = -torch.log(picked.clamp_min(self.eps))
        w = epoch_weights * valid.to(epoch_weights.dtype)
        return (nll * w).sum() / w.sum().clamp_min(self.eps)
