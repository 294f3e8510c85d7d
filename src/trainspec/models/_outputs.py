"""Output conventions: what a user's module returns, turned into the scores trainspec works on.

Every classification output is handled as logits: losses apply ``log_softmax`` (cross-entropy),
metrics and predictions ``softmax``. A module that returns probabilities or log-probabilities
is therefore mapped to log-probabilities, which *are* logits (``softmax(log p) = p``), so
nothing downstream applies a softmax over probabilities or trains cross-entropy on them:
cross-entropy over log-probabilities is the negative log-likelihood. One output column is a
binary score: its probability ``p`` becomes the logit ``log p - log(1 - p)``.
"""

from __future__ import annotations

import torch

__all__ = ["EPS", "from_scores", "to_scores"]

# Probabilities are clamped to [EPS, 1 - EPS] before a log: a module's exact 0 (a softmax that
# underflowed) would otherwise give an infinite loss.
EPS = 1e-7


def _binary_logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(EPS, 1 - EPS)
    return torch.log(p) - torch.log1p(-p)


def to_scores(out: torch.Tensor, kind: str) -> torch.Tensor:
    """A module's classification output of ``kind`` as logits (classes on the last axis)."""
    if kind == "logits":
        return out
    x = out.float() if out.dtype in (torch.float16, torch.bfloat16) else out
    if x.shape[-1] == 1:
        p = x if kind == "probabilities" else torch.exp(x)
        return _binary_logit(p)
    if kind == "probabilities":
        return torch.log(x.clamp_min(EPS))
    return x  # log-probabilities


def from_scores(scores: torch.Tensor, kind: str) -> torch.Tensor:
    """Logits back in the form ``kind``, for a user's loss that takes probabilities (or
    log-probabilities); classes on the last axis."""
    if kind == "logits":
        return scores
    if scores.shape[-1] == 1:
        p = torch.sigmoid(scores)
        return p if kind == "probabilities" else torch.log(p.clamp_min(EPS))
    if kind == "probabilities":
        return torch.softmax(scores, dim=-1)
    return torch.log_softmax(scores, dim=-1)
