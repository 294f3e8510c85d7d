"""Checkpoints on disk: written atomically, checksummed, each one immutable once in place.

Layout under ``RUN/checkpoints/``::

    ckpt-00000120/        one per save, named by global step (``-2``... for a second save at
      model.safetensors   the same step); the newest K are kept, and the best one
      state.safetensors   the tensors of the training state (optimiser, RNG, permutation)
      state.json          the rest of the training state, tensors referenced by name
      manifest.json       sha256 of each file above; written last
    last -> ckpt-00000144 the newest checkpoint: a relative symbolic link
    best -> ckpt-00000120 the checkpoint taken at the best monitored value

A checkpoint is built under a temporary name, fsynced and renamed into place; ``last`` and
``best`` are then moved with one atomic rename of a new link over the old (``_publish``), so a
crash at any instant leaves every name pointing at a complete checkpoint. Loading checks the
manifest and falls back to the previous valid checkpoint, with a warning, when the newest is
damaged.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainspec.errors import FormatError, TrainingError, TrainspecError
from trainspec.files import (
    RunDir,
    check_format,
    checkpoint_step,
    find_checkpoints,
    fsync_dir,
    storage_errors,
    verify_manifest,
    write_manifest,
)

from ._state import STATE_FORMAT

__all__ = [
    "Checkpoint",
    "load_checkpoint",
    "load_latest",
    "verify_checkpoint",
    "write_checkpoint",
]

log = logging.getLogger(__name__)

STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"
_PREFIX = "ckpt-"


@dataclass
class Checkpoint:
    """A checkpoint read back: weights, state tensors and the JSON state."""

    path: Path
    model: dict[str, torch.Tensor]
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    # Serialised here and written by Python, so a full disk raises an OSError with its errno.
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def _final_name(root: Path, step: int) -> Path:
    final = root / f"{_PREFIX}{step:08d}"
    n = 1
    while final.exists() or final.is_symlink():
        n += 1
        final = root / f"{_PREFIX}{step:08d}-{n}"
    return final


def write_checkpoint(
    root: Path,
    step: int,
    model: dict[str, torch.Tensor],
    tensors: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> Path:
    """Write ``root/ckpt-<step>/`` atomically and return its path.

    A checkpoint in place is never modified: a second save at the same step is a new folder
    (``ckpt-<step>-2``), newer than the first. A full disk or a refused write raises a
    ``StorageError`` and leaves every earlier checkpoint as it was.
    """
    with storage_errors(root):
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{uuid.uuid4().hex}"
        os.mkdir(tmp)
        try:
            _write_file(tmp / RunDir.WEIGHTS, _tensor_bytes(model))
            _write_file(tmp / STATE_TENSORS, _tensor_bytes(tensors))
            _write_file(tmp / STATE_JSON, json.dumps(state).encode("utf-8"))
            write_manifest(tmp, (RunDir.WEIGHTS, STATE_TENSORS, STATE_JSON), {"global_step": step})
            final = _final_name(root, step)
            os.rename(tmp, final)
            fsync_dir(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def verify_checkpoint(path: Path) -> None:
    """``IntegrityError`` unless every file of checkpoint ``path`` matches its manifest."""
    verify_manifest(path, what="checkpoint")


def load_checkpoint(path: Path) -> Checkpoint:
    """Read and verify one checkpoint directory; ``TrainspecError`` when it is damaged."""
    from safetensors.torch import load_file

    verify_checkpoint(path)
    try:
        model = load_file(path / RunDir.WEIGHTS)
        tensors = load_file(path / STATE_TENSORS)
        state = json.loads((path / STATE_JSON).read_text(encoding="utf-8"))
    except Exception as exc:  # a file that passed its checksum but cannot be parsed
        raise TrainingError(f"checkpoint {path} cannot be read: {exc}") from exc
    check_format(state, STATE_FORMAT, what="checkpoint's training state", where=path / STATE_JSON)
    return Checkpoint(path, model, tensors, state)


def load_latest(root: Path, *, set_aside: bool = True) -> Checkpoint | None:
    """The newest valid checkpoint under ``root``; damaged newer ones are set aside (renamed
    ``corrupt-*``) when ``set_aside`` (only the process that writes the run should).

    Returns None when there is no checkpoint at all; raises ``TrainingError`` when there are
    checkpoints but none is valid.
    """
    candidates = find_checkpoints(root)
    if not candidates and (root / "last").is_dir():
        candidates = [root / "last"]
    problems: list[str] = []
    for path in candidates:
        try:
            ckpt = load_checkpoint(path)
        except FormatError:
            raise  # written by a newer trainspec: not damaged, and not to be set aside
        except TrainspecError as exc:
            log.warning("%s; falling back to the previous checkpoint", exc)
            problems.append(str(exc))
            if set_aside and checkpoint_step(path) is not None:
                path.rename(path.with_name(f"corrupt-{path.name}-{uuid.uuid4().hex[:6]}"))
            continue
        return ckpt
    if problems:
        raise TrainingError(
            f"no valid checkpoint to resume from in {root}: "
            + "; ".join(problems)
            + f". Restore a checkpoint into {root}, or train afresh into a new run directory "
            "(--run-dir NEW, without --resume)"
        )
    return None
