"""summary.json of a run that fails: its status and the reason, written even on a full disk.

A run reserves the space of its summary when it starts (a ``running`` summary padded with
blanks); a failure is then written over it in place when a new file cannot be made.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainspec.files import RunDir, is_storage_error, write_json

__all__ = ["RESERVED_BYTES", "record_failure", "reserve_summary"]

log = logging.getLogger(__name__)


RESERVED_BYTES = 8192


def _padded(data: Mapping[str, Any], size: int) -> bytes:
    text = json.dumps(data, indent=2, default=str).encode("utf-8")
    return text + b" " * max(0, size - len(text) - 1) + b"\n"


def reserve_summary(run_dir: Path, base: Mapping[str, Any]) -> None:
    """Write a ``running`` summary of ``RESERVED_BYTES`` unless a summary is there already."""
    path = RunDir(run_dir).summary
    if path.is_file() and path.stat().st_size >= RESERVED_BYTES:
        return
    path.write_bytes(_padded({**base, "status": "running"}, RESERVED_BYTES))


def record_failure(run_dir: Path, base: Mapping[str, Any], exc: BaseException) -> None:
    """Write ``status: failed`` and the reason into ``summary.json``; never raises."""
    path = RunDir(run_dir).summary
    reason = str(exc) or type(exc).__name__
    data = {**base, "status": "failed", "reason": reason, "error": type(exc).__name__}
    try:
        write_json(path, data)
        return
    except OSError as write_error:
        if not is_storage_error(write_error):
            log.warning("could not record the failure in %s: %s", path, write_error)
            return
    _overwrite_reserved(path, data)


def _overwrite_reserved(path: Path, data: dict[str, Any]) -> None:
    """The disk is full: write over the reserved blocks of the summary, in place."""
    try:
        size = path.stat().st_size
        payload = _padded(data, size)
        if len(payload) > size:
            data["reason"] = str(data["reason"])[: max(200, size // 2)] + "..."
            payload = _padded(data, size)
        with path.open("r+b") as fh:
            fh.write(payload[:size])
    except OSError as exc:
        log.warning("could not record the failure in %s: %s", path, exc)
