"""One parent tracker run per sweep, however many processes work on its study.

The first process to claim the parent (under the study's claim lock) starts it and records
its id in the study (``trainspec.parent_run_id``, a study user attribute), where every other
process finds it: on this machine or another, now or when the sweep is resumed later.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from trainspec.experiments._sweep_study import claim_lock

if TYPE_CHECKING:
    import optuna

__all__ = ["PARENT_ATTR", "claim_parent", "record_parent", "wait_for_parent"]

log = logging.getLogger(__name__)

PARENT_ATTR = "trainspec.parent_run_id"
_PENDING = "pending:"
# A claim older than this whose run never appeared is taken over (its process died).
_CLAIM_SECONDS = 120.0
_POLL_SECONDS = 0.25


def _pending(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith(_PENDING):
        return False
    try:
        return time.time() - float(value.removeprefix(_PENDING)) < _CLAIM_SECONDS
    except ValueError:
        return False


def claim_parent(study: optuna.Study, lock: Path) -> tuple[bool, str | None]:
    """``(True, None)`` when this process is to start the parent run (then call
    ``record_parent``); else ``(False, id)`` with the parent's id (None: no tracker)."""
    with claim_lock(getattr(study, "_storage", None), study.study_name, lock):
        value = study.user_attrs.get(PARENT_ATTR)
        unclaimed = value is None or (isinstance(value, str) and value.startswith(_PENDING))
        if unclaimed and not _pending(value):  # never claimed, or its claimer died
            study.set_user_attr(PARENT_ATTR, f"{_PENDING}{time.time()}")
            return True, None
    return False, wait_for_parent(study)


def record_parent(study: optuna.Study, run_id: str | None) -> None:
    study.set_user_attr(PARENT_ATTR, run_id or "")


def wait_for_parent(study: optuna.Study) -> str | None:
    """The parent run's id once the process that claimed it has started it."""
    deadline = time.time() + _CLAIM_SECONDS
    while True:
        value = study.user_attrs.get(PARENT_ATTR)
        if not _pending(value) or time.time() > deadline:
            break
        time.sleep(_POLL_SECONDS)
    if isinstance(value, str) and value and not value.startswith(_PENDING):
        return value
    return None
