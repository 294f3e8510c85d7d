"""The mutable state of a run, and how it goes into and out of a checkpoint.

Everything that influences later numbers is here or in the components' ``state_dict``: the
position in the epoch and its permutation, the augmentation generator, the global generators,
the epoch's loss accumulators, early stopping, the history. ``time`` is the one value that
differs between runs; it stays in the history and out of ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainspec.errors import TrainingError
from trainspec.files import fsync

from ._optim import upgrade_scheduler_state
from ._rng import capture_global_rng, restore_global_rng

__all__ = [
    "GROWABLE",
    "TrainState",
    "check_compat",
    "jsonl_line",
    "pack_state",
    "rewrite_jsonl",
    "unpack_state",
]

# The checkpoint's training-state layout (state.json's format_version; ``format`` before it
# was renamed). load_checkpoint refuses a newer one.
STATE_FORMAT = 1
# Compat keys that may grow on resume (more epochs); all others must be equal.
GROWABLE = ("train.epochs",)
# History keys that are not reproducible and so stay out of metrics.jsonl.
VOLATILE = ("time",)


@dataclass
class TrainState:
    """Where a run is. ``epoch`` counts completed epochs; ``position`` is the number of
    batches of epoch ``epoch`` already trained on (by each process); ``order`` is the whole
    training set's permutation for that epoch, which every process shards the same way."""

    epoch: int = 0
    position: int = 0
    global_step: int = 0
    order: np.ndarray | None = None
    aug_state: torch.Tensor | None = None
    loss_total: float = 0.0
    loss_count: int = 0
    skipped: int = 0
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)
    tracker_run_id: str | None = None
    # Processes that trained the run and samples in one optimiser step (0: not recorded).
    world_size: int = 1
    global_batch: int = 0


_PLAIN = (
    "epoch",
    "position",
    "global_step",
    "loss_total",
    "loss_count",
    "skipped",
    "best",
    "best_epoch",
    "bad_epochs",
    "stopped_early",
    "history",
    "tracker_run_id",
    "world_size",
    "global_batch",
)
# Added to the state after format 1 was fixed; older checkpoints have them at these values.
_LATER = {"world_size": 1, "global_batch": 0}


def pack_state(
    state: TrainState,
    components: Mapping[str, Any],
    compat: Mapping[str, str],
    rank_rng: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A nested dict of the whole training state (tensors left in place for ``flatten``).

    ``rank_rng``: in data-parallel training, every process's global generators in rank order.
    Rank 0's are ``rng`` (what a process beyond the saved ones falls back to, when a resume
    runs on more processes), the others' ``rank_rng``.
    """
    packed: dict[str, Any] = {name: getattr(state, name) for name in _PLAIN}
    packed.update(
        format_version=STATE_FORMAT,
        order=None if state.order is None else torch.from_numpy(state.order),
        aug_state=state.aug_state,
        rng=capture_global_rng() if rank_rng is None else rank_rng[0],
        compat=dict(compat),
        components={name: c.state_dict() for name, c in components.items() if c is not None},
    )
    if rank_rng is not None:
        packed["rank_rng"] = rank_rng[1:]
    return packed


def unpack_state(
    packed: Mapping[str, Any], components: Mapping[str, Any], rank: int = 0
) -> TrainState:
    """Restore components and global generators (process ``rank``'s own where the checkpoint
    has them) from ``packed``; return the run's state. Its format version is checked when the
    checkpoint is read (``load_checkpoint``)."""
    saved = packed["components"]
    for name, comp in components.items():
        if comp is None:
            continue
        if name not in saved:
            raise TrainingError(
                f"the checkpoint has no {name} state, but this run has a {name}; resume with "
                "the spec the run was started with"
            )
        try:
            state = saved[name]
            comp.load_state_dict(
                upgrade_scheduler_state(comp, state) if name == "scheduler" else state
            )
        except (ValueError, KeyError, RuntimeError) as exc:
            raise TrainingError(
                f"the checkpoint's {name} state does not fit this run's {name} ({exc}); the "
                "optimiser's parameter groups depend on finetune (freeze, trainable, "
                "param_groups, layer_decay, unfreeze): resume with the spec the run was "
                "started with"
            ) from None
    ranks = packed.get("rank_rng") or []
    restore_global_rng(ranks[rank - 1] if 0 < rank <= len(ranks) else packed["rng"])
    state = TrainState(**{name: packed.get(name, _LATER.get(name)) for name in _PLAIN})
    order = packed.get("order")
    state.order = None if order is None else order.numpy().astype(np.int64)
    state.aug_state = packed.get("aug_state")
    return state


def check_compat(stored: Mapping[str, str], given: Mapping[str, str]) -> None:
    """Refuse a resume whose spec differs in a field that matters, naming the field."""
    changed = []
    for key in sorted(set(stored) & set(given)):
        old, new = str(stored[key]), str(given[key])
        if old == new:
            continue
        if key in GROWABLE and _as_int(new) >= _as_int(old):
            continue
        changed.append(f"{key} ({old!r} in the checkpoint, {new!r} now)")
    if changed:
        raise TrainingError(
            "cannot resume: the spec changed in a way that invalidates the checkpoint: "
            + "; ".join(changed)
            + ". Restore those fields, or start a new run (without resume)"
        )


def _as_int(value: str) -> float:
    try:
        return int(value)
    except ValueError:
        return math.nan


def jsonl_line(row: Mapping[str, Any]) -> str:
    """A history row as one JSON line; non-finite values become null (strict JSON)."""
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in row.items()
        if k not in VOLATILE
    }
    return json.dumps(clean, sort_keys=False) + "\n"


def rewrite_jsonl(path: Path, history: list[dict[str, float]]) -> None:
    """Replace ``path`` atomically with ``history``, one line per epoch."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(jsonl_line(row) for row in history)
        fh.flush()
        fsync(fh.fileno())
    os.replace(tmp, path)
