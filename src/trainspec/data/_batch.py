"""What the data layer hands to training: batches of tensors, in an order the caller picks.

The engine owns the order (a seeded permutation per epoch and a position in it) so that a
run resumes mid-epoch exactly; a ``BatchSource`` only turns a list of sample indices into
batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["IGNORE_INDEX", "INDEX", "MASK", "TARGET", "WEIGHT", "Batch", "BatchSource"]

# Reserved batch keys. Every other key is a model input (``x`` when there is only one).
TARGET = "target"  # (B,) int64 class labels, (B, ...) float32 regression targets
WEIGHT = "weight"  # (B,) float32 per-sample weights
MASK = "mask"  # (B, T) bool, True where a padded sequence has real data
INDEX = "index"  # (B,) int64 positions of the samples in the source, for ids and predictions

# Target value of padded or unlabelled sequence positions (torch's cross-entropy default).
IGNORE_INDEX = -100

Batch = dict[str, "torch.Tensor"]


@runtime_checkable
class BatchSource(Protocol):
    """A split of a data set, served batch by batch in the order given.

    A source whose targets were rescaled (``data.target_transform``) also has an attribute
    ``target_inverse``: a function mapping targets and predictions back to the data's units,
    which evaluation applies before the metrics.
    """

    def __len__(self) -> int:
        """Number of samples."""
        ...

    def iter_batches(
        self,
        order: np.ndarray,
        batch_size: int,
        *,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[Batch]:
        """Batches of the samples at positions ``order`` (0..len-1), in that order.

        ``generator`` drives training-time augmentations; with ``None`` none are applied (the
        evaluation path). Resuming at batch ``k`` is ``iter_batches(order[k * batch_size:], ...)``
        with the generator restored to its state at that batch.
        """
        ...
