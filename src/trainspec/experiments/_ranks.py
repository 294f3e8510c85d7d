"""A run trained by several processes (``trainspec train --nproc N``, ``torchrun``): which
process writes, and how the others learn where.

Rank 0 names the run directory, writes every file of the run and talks to the tracker; the
other ranks train beside it and write nothing. Without a launcher there is one process, the
writer, and torch is not imported here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainspec.spec import TrainSpec

__all__ = ["Group", "joined_group"]


def _launched() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Group:
    """This process's place among the run's processes."""

    rank: int = 0
    world_size: int = 1
    backend: str | None = None

    @property
    def writer(self) -> bool:
        return self.rank == 0

    def share(self, run_dir: Path | None) -> Path:
        """Rank 0's run directory, on every rank."""
        if self.world_size > 1:
            from trainspec.engine import broadcast_object

            run_dir = broadcast_object(run_dir)
        assert run_dir is not None
        return run_dir

    def describe(self) -> dict[str, Any]:
        """What environment.json records about the processes."""
        return {"world_size": self.world_size, "backend": self.backend or "none"}


@contextlib.contextmanager
def joined_group(train: TrainSpec) -> Iterator[Group]:
    """The process group the launcher describes, joined for the block (one process: none)."""
    if _launched() <= 1:
        yield Group()
        return
    from trainspec.engine import process_group, rank, world_size

    with process_group(train.distributed, train.device) as backend:
        yield Group(rank(), world_size(), backend)
