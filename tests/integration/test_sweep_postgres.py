"""A sweep whose workers share a study on a real PostgreSQL server.

``trainspec sweep SPEC`` creates the study and is SIGKILLed in the middle of a trial; two
``trainspec sweep SPEC --worker`` processes join the study: the killed trial must be failed
(by its missed heartbeats) and run again with the same parameters, and the study must end with
exactly ``n_trials`` counted trials. The server is a throwaway cluster made by the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.postgres_server import INSTALL_HINT, find_bin, postgres_cluster
from tests.unit.experiments.sweep_support import digits_job

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_bin() is None, reason=INSTALL_HINT),
]

N_TRIALS = 5
OWNER = "trainspec.owner"


@pytest.fixture(scope="module")
def postgres() -> Any:
    with postgres_cluster() as url:
        yield url


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _start(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "trainspec", "sweep", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(what: str, check: Any, procs: list[subprocess.Popen[str]], limit: float = 180) -> Any:
    deadline = time.monotonic() + limit
    while True:
        found = check()
        if found:
            return found
        for proc in procs:
            if proc.poll() not in (None, 0):
                raise AssertionError(f"{what}: a process failed: {proc.communicate()[1][-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_workers_on_postgres_survive_a_killed_worker(postgres: str, tmp_path: Path) -> None:
    import optuna
    from optuna.trial import TrialState

    digits_job(
        tmp_path,
        # Long enough (about a second of training a trial) that the victim is killed inside
        # the trial it was seen starting, however quick trials become.
        epochs=100,
        metric="val/accuracy",
        direction="maximize",
        n_trials=N_TRIALS,
        sampler={"type": "random"},
        pruner="none",
        storage=postgres,
        heartbeat={"interval": 1, "grace_period": 3, "max_retry": 2},
        params={
            "train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
            "model.layers[0].out_features": {"type": "int", "low": 8, "high": 64},
        },
    )
    # --worker before the study exists is refused with the fix
    early = subprocess.run(
        [sys.executable, "-m", "trainspec", "sweep", "job.yaml", "--worker"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert early.returncode == 2, early.stderr
    assert "no study 'digits-tiny'" in early.stderr and "without --worker" in early.stderr

    # The process that creates the study is the one killed mid-trial: a worker started beside
    # it could find every trial already taken on a fast machine, so nothing here races.
    victim = _start(tmp_path, "job.yaml")
    procs = [victim]

    def victims_trial() -> Any:
        if "digits-tiny" not in optuna.get_all_study_names(postgres):
            return None
        study = optuna.load_study(study_name="digits-tiny", storage=postgres)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get(OWNER, {}).get("pid") == victim.pid and len(t.params) == 2:
                return t
        return None

    doomed = _wait_for("a trial of the victim", victims_trial, procs)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    procs = [_start(tmp_path, "job.yaml", "--worker") for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]

    study = optuna.load_study(study_name="digits-tiny", storage=postgres)
    trials = study.get_trials(deepcopy=False)
    killed = trials[doomed.number]
    assert killed.state == TrialState.FAIL
    retries = [t for t in trials if doomed.number in t.system_attrs.get("retry_history", [])]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params == doomed.params
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS
    assert len(trials) == N_TRIALS + 1  # the killed one, retried once
    # several processes, distinct parameters
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == N_TRIALS

    best = subprocess.run(
        [sys.executable, "-m", "trainspec", "sweep", "best", "job.yaml", "--json"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert best.returncode == 0, best.stderr
    record = json.loads(best.stdout)["best"][0]
    top = max(complete, key=lambda t: t.values[0])
    assert record["number"] == top.number
    assert record["values"]["val/accuracy"] == top.values[0]
