"""Checkpoints on disk: written atomically, checksummed, the last K kept, no symlinks needed.

Layout under ``RUN/checkpoints/``::

    ckpt-00000120/        one per save, named by global step; the newest K are kept
      model.safetensors   the module's weights
      state.safetensors   the tensors of the training state (optimiser, RNG, permutation)
      state.json          the rest of the training state, tensors referenced by name
      manifest.json       sha256 of each file above; written last
    last/                 a copy (hard links where possible) of the newest ckpt-*
    best/                 a copy of the checkpoint taken at the best monitored value

Every directory is built under a temporary name, fsynced and renamed into place, so a crash
leaves either the old or the new directory, never half of one. Loading checks the manifest and
falls back to the previous valid checkpoint, with a warning, when the newest is damaged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainspec.errors import TrainingError

__all__ = [
    "MODEL_FILE",
    "Checkpoint",
    "find_checkpoints",
    "load_checkpoint",
    "load_latest",
    "prune",
    "publish",
    "write_checkpoint",
]

log = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"
MANIFEST = "manifest.json"
FORMAT = 1
_PREFIX = "ckpt-"


@dataclass
class Checkpoint:
    """A checkpoint read back: weights, state tensors and the JSON state."""

    path: Path
    model: dict[str, torch.Tensor]
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move ``tmp`` to ``final``, replacing an existing directory there."""
    if final.exists():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
    _fsync_dir(final.parent)


def write_checkpoint(
    root: Path,
    step: int,
    model: dict[str, torch.Tensor],
    tensors: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> Path:
    """Write ``root/ckpt-<step>/`` atomically and return its path."""
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.items()}, tmp / MODEL_FILE)
        save_file(tensors, tmp / STATE_TENSORS)
        (tmp / STATE_JSON).write_text(json.dumps(state), encoding="utf-8")
        files = {name: _sha256(tmp / name) for name in (MODEL_FILE, STATE_TENSORS, STATE_JSON)}
        manifest = {"format": FORMAT, "files": files, "global_step": step}
        (tmp / MANIFEST).write_text(json.dumps(manifest, sort_keys=True), encoding="utf-8")
        for name in (*files, MANIFEST):
            _fsync_file(tmp / name)
        _fsync_dir(tmp)
        final = root / f"{_PREFIX}{step:08d}"
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def publish(source: Path, name: str) -> Path:
    """Make ``source``'s parent/``name`` (``last`` or ``best``) a copy of checkpoint ``source``.

    Files are hard-linked (they are never modified in place), copied where links fail.
    """
    root = source.parent
    tmp = root / f".tmp-{name}-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        for item in source.iterdir():
            try:
                os.link(item, tmp / item.name)
            except OSError:
                shutil.copy2(item, tmp / item.name)
                _fsync_file(tmp / item.name)
        _fsync_dir(tmp)
        _replace_dir(tmp, root / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root / name


def find_checkpoints(root: Path) -> list[Path]:
    """The ``ckpt-*`` directories under ``root``, newest (highest step) first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def prune(root: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` ``ckpt-*`` directories, and stale temporaries."""
    for old in find_checkpoints(root)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for stale in root.glob(".old-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _verify(path: Path) -> None:
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise TrainingError(f"checkpoint {path} has no {MANIFEST} (it was not finished)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"checkpoint {path}: {MANIFEST} is unreadable ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise TrainingError(
            f"checkpoint {path} has format {manifest.get('format')!r}; this version reads "
            f"format {FORMAT}"
        )
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            raise TrainingError(f"checkpoint {path}: {name} is missing")
        if _sha256(file) != expected:
            raise TrainingError(
                f"checkpoint {path}: {name} does not match its checksum (truncated or corrupted)"
            )


def load_checkpoint(path: Path) -> Checkpoint:
    """Read and verify one checkpoint directory; ``TrainingError`` when it is damaged."""
    from safetensors.torch import load_file

    _verify(path)
    try:
        model = load_file(path / MODEL_FILE)
        tensors = load_file(path / STATE_TENSORS)
        state = json.loads((path / STATE_JSON).read_text(encoding="utf-8"))
    except Exception as exc:  # a file that passed its checksum but cannot be parsed
        raise TrainingError(f"checkpoint {path} cannot be read: {exc}") from exc
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
        except TrainingError as exc:
            log.warning("%s; falling back to the previous checkpoint", exc)
            problems.append(str(exc))
            if set_aside and path.name.startswith(_PREFIX):
                path.rename(path.with_name(f"corrupt-{path.name}-{uuid.uuid4().hex[:6]}"))
            continue
        return ckpt
    if problems:
        raise TrainingError(
            f"no valid checkpoint to resume from in {root}: "
            + "; ".join(problems)
            + ". Start the run afresh (without resume) or restore a checkpoint"
        )
    return None
