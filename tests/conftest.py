"""Shared fixtures: paths of the repository and a way to run the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# A loaded 2-core machine (or a cold start, when the strategies' first draws are slow) must not
# turn property tests into flaky "too slow" failures: no deadline, no too_slow health check.
# CI draws the same number of examples as a developer's run, so a failure reproduces locally.
settings.register_profile(
    "trainspec",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    max_examples=60,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "trainspec"))

pytest_plugins = ["tests.budgets"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run ``python -m trainspec ARGS`` in a subprocess; returns the CompletedProcess."""

    def run(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "trainspec", *args],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
