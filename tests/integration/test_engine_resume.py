"""A run SIGKILLed at random moments and resumed ends with the numbers of an uninterrupted one."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _start(run_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.engine_resume_script", str(run_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_when(proc: subprocess.Popen[str], ticks: int | None, delay: float) -> str:
    """SIGKILL after ``ticks`` steps of this process (None: at its first epoch end)."""
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        if line.startswith("done"):
            break
        hit = line.startswith("epoch") if ticks is None else line.startswith("tick")
        seen += hit
        if hit and (ticks is None or seen >= ticks):
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return line.strip()
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"the run ended before it could be killed: {err[-2000:]}")


def test_sigkilled_and_resumed_run_matches_byte_for_byte(tmp_path: Path) -> None:
    seed = int(time.time())
    rng = random.Random(seed)
    reference = _start(tmp_path / "reference")  # runs alongside the killed ones
    run = tmp_path / "killed"
    # mid-epoch, at an epoch boundary (metrics line written, checkpoint not yet), mid-epoch,
    # and at a boundary again; each a few milliseconds off the mark
    plan = [rng.randint(2, 5), None, rng.randint(3, 8), None]
    for ticks in plan:
        _kill_when(_start(run), ticks, rng.uniform(0, 0.01))
    final = _start(run)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err[-3000:]
    ref_out, ref_err = reference.communicate(timeout=120)
    assert reference.returncode == 0, ref_err[-3000:]
    expected = (tmp_path / "reference" / "metrics.jsonl").read_bytes()
    got = (run / "metrics.jsonl").read_bytes()
    assert got == expected, f"kill plan {plan} (seed {seed}) gave different metrics"
    assert len(expected.splitlines()) == 5
    assert ref_out.strip().splitlines()[-1] == out.strip().splitlines()[-1] == "done 30"
    assert out.count("tick") < ref_out.count("tick")  # the last run resumed rather than restarted
