"""The epoch's training loss, and what a non-finite one does (``train.nan_policy``)."""

from __future__ import annotations

import logging
import math

import torch
from torch import Tensor

from trainspec.errors import TrainingError

from ._state import TrainState

__all__ = ["LossMeter"]

log = logging.getLogger(__name__)


class LossMeter:
    """The epoch's training loss and the NaN policy.

    On the CPU each loss is read at once (cheap); on an accelerator losses are kept as tensors
    and read in groups, so the loop does not wait for the device every step. Either way the
    epoch mean is the same sequence of float additions.
    """

    def __init__(self, policy: str, device: torch.device, state: TrainState) -> None:
        self.policy = policy
        self.eager = device.type == "cpu" or policy == "skip"
        self.state = state
        self.pending: list[tuple[int, int, Tensor, int]] = []

    def add(self, loss: Tensor, epoch: int, step: int, count: int = 1) -> bool:
        """Record ``loss`` (the sum of ``count`` batches' losses); False when the batch is to be
        skipped (non-finite, policy skip)."""
        if not self.eager:
            self.pending.append((epoch, step, loss.detach(), count))
            if len(self.pending) >= 64:
                self.flush()
            return True
        value = loss.item()
        if math.isfinite(value):
            self.state.loss_total += value
            self.state.loss_count += count
            return True
        if self.policy == "fail":
            raise self._error(value, epoch, step)
        self.state.skipped += 1
        log.warning(
            "skipping a batch with non-finite loss %s at epoch %d, step %d",
            value,
            epoch + 1,
            step + 1,
        )
        return False

    def flush(self) -> None:
        if not self.pending:
            return
        values = torch.stack([v for _, _, v, _ in self.pending]).double().cpu().tolist()
        for (epoch, step, _, count), value in zip(self.pending, values, strict=True):
            if not math.isfinite(value):
                self.pending.clear()
                raise self._error(value, epoch, step)
            self.state.loss_total += value
            self.state.loss_count += count
        self.pending.clear()

    def mean(self) -> float:
        self.flush()
        count = self.state.loss_count
        return self.state.loss_total / count if count else math.nan

    @staticmethod
    def _error(value: float, epoch: int, step: int) -> TrainingError:
        return TrainingError(
            f"non-finite training loss {value} at epoch {epoch + 1}, step {step + 1} "
            "(train.nan_policy: fail); lower the learning rate, clip gradients "
            "(train.grad_clip_norm), check the data for NaN, or set train.nan_policy: skip"
        )
