"""Whether the process that owns a run still lives."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trainspec.tracking._process import process_alive, process_started

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="reconciliation is POSIX-only")


def test_this_process_lives_and_a_reaped_child_does_not() -> None:
    assert process_alive(os.getpid(), process_started(os.getpid()))
    child = subprocess.Popen(["true"])
    child.wait()
    assert not process_alive(child.pid)
    assert not process_alive(0)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_a_reused_pid_is_told_apart_by_its_start_time() -> None:
    started = process_started(os.getpid())
    assert started is not None and started.isdigit()
    assert not process_alive(os.getpid(), str(int(started) + 1))
