"""Which process owns a run, and whether that process still lives (for reconciliation)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["host_name", "process_alive", "process_started"]


def host_name() -> str:
    return socket.gethostname()


def process_started(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), where ``/proc`` has it.

    With the pid it tells one process from a later one that was given the same pid.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state); the start time is field 22.
    return fields[19] if len(fields) > 19 else None


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` runs on this host (and, given ``started``, is the same process)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill(pid, 0) would send CTRL_C there; never reconcile on a guess
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OSError:
        return False
    if _zombie(pid):
        return False
    if started is not None:
        now = process_started(pid)
        if now is not None and now != started:
            return False
    return True
