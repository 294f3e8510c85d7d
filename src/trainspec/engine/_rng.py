"""Seeds and random state: every source of randomness in a run, captured and restored.

The sample order and the augmentation stream of epoch ``e`` are derived from ``(seed, e)``
alone, so they do not depend on how many times the run was interrupted; the global generators
(Python, NumPy, torch, CUDA), which dropout and user code draw from, are saved in checkpoints.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "EpochSampler",
    "augmentation_generator",
    "capture_global_rng",
    "restore_global_rng",
    "seed_everything",
    "seed_worker",
]

# Distinct streams derived from one seed; the numbers only need to differ.
_ORDER_STREAM = 0x0D3E
_AUG_STREAM = 0xA06


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, torch and every CUDA device."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for a ``DataLoader``: NumPy and Python seeded from torch's seed.

    torch seeds each worker from the loader's generator; this extends it to the other
    libraries so that augmentations in workers repeat across runs.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def _derived_seed(seed: int, stream: int, epoch: int) -> int:
    seq = np.random.SeedSequence([seed % 2**63, stream, epoch])
    return int(seq.generate_state(1, dtype=np.uint64)[0] % 2**63)


def augmentation_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that drives augmentations in epoch ``epoch``."""
    gen = torch.Generator()
    gen.manual_seed(_derived_seed(seed, _AUG_STREAM, epoch))
    return gen


@dataclass(frozen=True)
class EpochSampler:
    """The sample order of each epoch: a permutation seeded by ``(seed, epoch)``.

    ``rank``/``world_size`` shard it for data-parallel training: each rank takes every
    ``world_size``-th sample of the same permutation, padded by wrapping so that all ranks
    run the same number of steps. The permutation is the same for every number of processes
    (checkpoints hold it, and each process takes its share again on resume).
    """

    size: int
    seed: int
    shuffle: bool = True
    rank: int = 0
    world_size: int = 1

    def permutation(self, epoch: int) -> np.ndarray:
        """The whole training set's order in ``epoch``, before sharding."""
        if not self.shuffle:
            return np.arange(self.size, dtype=np.int64)
        rng = np.random.default_rng(_derived_seed(self.seed, _ORDER_STREAM, epoch))
        return rng.permutation(self.size).astype(np.int64)

    def shard(self, perm: np.ndarray) -> np.ndarray:
        """This rank's share of ``perm``: its strided slice of every global batch."""
        if self.world_size == 1:
            return perm
        per_rank = -(-len(perm) // self.world_size)
        padded = np.resize(perm, per_rank * self.world_size)
        return padded[self.rank :: self.world_size]

    def order(self, epoch: int) -> np.ndarray:
        """This rank's samples in ``epoch``, in the order it trains on them."""
        return self.shard(self.permutation(epoch))


def capture_global_rng() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA generator states."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=False),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
