"""What a resume may change: keys that do not affect the numbers change freely; a change to
any other key is named with its old and new value and refused unless ``--allow-changes``,
which records it in the run (``resume_changes.json``) and leaves ``config.yaml`` as it was."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from trainspec.errors import TrainspecError
from trainspec.files import RunDir, read_json, write_json

__all__ = ["FREE_KEYS", "check_resume_changes", "spec_changes"]

# Keys (and everything under them) that do not change what a run computes.
FREE_KEYS = (
    "name",
    "description",
    "run",
    "tracking",
    "sweep",
    "data.loader",
    "train.epochs",
    "train.max_steps",
    "train.progress",
    "train.checkpoint",
    "train.resume",
    "train.device",
    "train.eval_batch_size",
)
_MISSING: Any = object()  # a key the spec does not set


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out or {prefix: {}}
    return {prefix: data}


def _free(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in FREE_KEYS)


def spec_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``key -> (old, new)`` for every training-affecting key whose value differs."""
    a, b = _flatten(old), _flatten(new)
    changed = {}
    for key in sorted(set(a) | set(b)):
        if _free(key):
            continue
        before, after = a.get(key, _MISSING), b.get(key, _MISSING)
        if before != after:
            changed[key] = (before, after)
    return changed


def _show(value: Any) -> str:
    return "not set" if value is _MISSING else repr(value)


def _render(changes: Mapping[str, tuple[Any, Any]]) -> str:
    return "; ".join(f"{k}: {_show(old)} -> {_show(new)}" for k, (old, new) in changes.items())


def _plain(value: Any) -> Any:
    return None if value is _MISSING else value


def check_resume_changes(
    run_dir: Path, new: Mapping[str, Any], *, allow_changes: bool, spec_hash: str
) -> dict[str, tuple[Any, Any]]:
    """Compare ``new`` with the run's ``config.yaml``; refuse a changed training key unless
    ``allow_changes``, in which case the change is appended to ``resume_changes.json``."""
    config = RunDir(run_dir).config
    if not config.is_file():
        return {}
    path = RunDir(run_dir).resume_changes
    record = read_json(path) if path.is_file() else []
    # The spec in force: config.yaml, or the spec of the last change allowed.
    old = record[-1]["spec"] if record else yaml.safe_load(config.read_text(encoding="utf-8"))
    changes = spec_changes(old or {}, new)
    if not changes:
        return {}
    if not allow_changes:
        raise TrainspecError(
            f"cannot resume {run_dir}: the spec changed in keys that affect training: "
            f"{_render(changes)}. Restore them to resume, or pass --allow-changes to go on with "
            f"the new values (recorded in {path}; config.yaml keeps the "
            "spec the run started with)"
        )
    record.append(
        {
            "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "spec_hash": spec_hash,
            "changes": {k: {"old": _plain(o), "new": _plain(n)} for k, (o, n) in changes.items()},
            "spec": dict(new),
        }
    )
    write_json(path, record)
    return changes
