"""A 6-trial, 2-worker sweep on digits, killed part-way (SIGKILL to its process group) and run
again: exactly 6 complete trials, none repeated; MLflow lists every trial; the best trial's
exported spec repeats its metric exactly; the sweep's report renders."""

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

from tests.unit.experiments.sweep_support import ROOT, digits_job, ensure_sweep_field

pytestmark = pytest.mark.integration
ensure_sweep_field()

SUPPORT = "from tests.unit.experiments.sweep_support import main; main()"
N_TRIALS = 6


def _env() -> dict[str, str]:
    # The sources of this checkout first, then the tests' package.
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": path}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _cli(cwd: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SUPPORT, *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _complete_trials(sweep_dir: Path) -> int:
    import sqlite3

    db = sweep_dir / "study.db"
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            (n,) = con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    except sqlite3.Error:  # tables not created yet, or locked for a moment
        return 0
    return int(n)


def _study(sweep_dir: Path) -> Any:
    import optuna

    storage = "sqlite:///" + str((sweep_dir / "study.db").resolve())
    return optuna.load_study(study_name="digits-tiny", storage=storage)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("sweep")
    digits_job(
        tmp,
        tracking="mlflow",
        metric="val/accuracy",
        direction="maximize",
        n_trials=N_TRIALS,
        workers=2,
        sampler={"type": "random"},
        pruner="none",
        params={
            "train.optimizer.lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
            "model.layers[0].out_features": {"type": "categorical", "choices": [8, 16, 32]},
        },
    )
    sweep_dir = tmp / "runs" / "sweeps" / "digits-tiny"
    first = subprocess.Popen(
        [sys.executable, "-c", SUPPORT, "sweep", "job.yaml"],
        cwd=tmp,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill reaches every worker
    )
    deadline = time.time() + 300
    while _complete_trials(sweep_dir) < 2 and time.time() < deadline and first.poll() is None:
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    killed = _study(sweep_dir).get_trials(deepcopy=False)
    second = _cli(tmp, "sweep", "job.yaml")
    return {"tmp": tmp, "dir": sweep_dir, "killed": killed, "second": second}


def test_rerun_resumes_to_exactly_n_complete_trials(sweep: dict[str, Any]) -> None:
    from optuna.trial import TrialState

    second = sweep["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    before = sweep["killed"]
    complete_before = [t.number for t in before if t.state == TrialState.COMPLETE]
    assert 2 <= len(complete_before) < N_TRIALS, "the kill came too late to test a resume"

    trials = _study(sweep["dir"]).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS
    # Finished trials were kept as they were, with their numbers.
    assert set(complete_before) <= {t.number for t in complete}
    # No trial ran twice: distinct parameters, distinct run directories.
    params = [json.dumps(t.params, sort_keys=True) for t in complete]
    assert len(set(params)) == N_TRIALS
    run_dirs = [
        t.user_attrs["trainspec.run_dir"] for t in trials if "trainspec.run_dir" in t.user_attrs
    ]
    assert len(set(run_dirs)) == len(run_dirs) >= N_TRIALS
    # Every trial the kill cut short was failed and run again with the same parameters.
    for t in trials:
        if t.state == TrialState.FAIL:
            retries = [r for r in complete if t.number in r.system_attrs.get("retry_history", [])]
            assert len(retries) == 1
            # The retry repeats every parameter the killed trial had sampled (a kill can land
            # before, between or after the suggestions).
            assert {k: retries[0].params[k] for k in t.params} == t.params
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in complete:
        summary = json.loads(
            (Path(sweep["tmp"]) / t.user_attrs["trainspec.run_dir"] / "summary.json").read_text()
        )
        assert summary["status"] == "finished"


def test_mlflow_lists_every_trial_with_params_and_metrics(
    sweep: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from optuna.trial import TrialState

    # Through the environment, not mlflow.set_tracking_uri: that would leak to later tests.
    monkeypatch.setenv(
        "MLFLOW_TRACKING_URI", "sqlite:///" + str(Path(sweep["tmp"]) / "runs" / "mlflow.db")
    )
    runs = mlflow.search_runs(experiment_names=["digits-tiny"], output_format="pandas")
    trials = runs[runs["tags.trainspec.sweep"] == "digits-tiny"]
    children = trials[trials["tags.mlflow.parentRunId"].notna()]
    parent = trials[trials["tags.mlflow.parentRunId"].isna()]
    assert len(parent) == 1 and parent.iloc[0]["status"] == "FINISHED"
    parent_id = parent.iloc[0]["run_id"]
    assert set(children["tags.mlflow.parentRunId"]) == {parent_id}
    finished = children[children["status"] == "FINISHED"]
    # A worker killed after its run finished but before the study heard of it leaves a finished
    # run whose trial is retried: count the runs of the study's complete trials.
    complete = {
        str(t.number)
        for t in _study(sweep["dir"]).get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
    }
    finished = finished[finished["tags.trainspec.trial"].isin(complete)]
    assert len(finished) == N_TRIALS
    assert finished["params.train.optimizer.lr"].notna().all()
    assert finished["metrics.val/accuracy"].notna().all()
    assert "RUNNING" not in set(children["status"])  # the killed trials were reconciled

    study = _study(sweep["dir"])
    by_trial = {
        int(n): v
        for n, v in zip(
            finished["tags.trainspec.trial"], finished["metrics.val/accuracy"], strict=True
        )
    }
    for t in study.get_trials(deepcopy=False):
        if t.values:
            assert by_trial[t.number] == pytest.approx(t.values[0])


def test_best_yaml_reproduces_the_best_trial(
    sweep: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tests.unit.experiments.sweep_support import build_app

    tmp = Path(sweep["tmp"])
    monkeypatch.chdir(tmp)
    res = CliRunner().invoke(build_app(), ["sweep", "best", "job.yaml", "--export", "best.yaml"])
    assert res.exit_code == 0, res.output
    assert "wrote best.yaml" in res.output
    study = _study(sweep["dir"])
    best = study.best_trial
    text = (tmp / "best.yaml").read_text()
    assert "sweep:" not in text
    assert f"trial {best.number} of sweep digits-tiny" in text

    threads = best.user_attrs["trainspec.torch_threads"]
    assert f"OMP_NUM_THREADS={threads} trainspec train best.yaml" in text
    train = subprocess.run(
        [sys.executable, "-m", "trainspec", "train", "best.yaml", "--run-dir", "again", "--quiet"],
        cwd=tmp,
        env={**_env(), "OMP_NUM_THREADS": str(threads)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert train.returncode == 0, train.stderr
    again = json.loads((tmp / "again" / "summary.json").read_text())
    assert again["best"]["val/accuracy"] == best.values[0]  # exactly, on CPU
    trial_rows = (tmp / best.user_attrs["trainspec.run_dir"] / "metrics.jsonl").read_text()
    strip = lambda line: {k: v for k, v in json.loads(line).items() if k != "time"}  # noqa: E731
    assert [strip(x) for x in trial_rows.splitlines()] == [
        strip(x) for x in (tmp / "again" / "metrics.jsonl").read_text().splitlines()
    ]


def test_sweep_report_renders(sweep: dict[str, Any]) -> None:
    from tests.integration.test_report import assert_renders
    from trainspec.experiments._report import write_report

    tmp = Path(sweep["tmp"])
    html = write_report(sweep["dir"], tmp / "sweep.html").read_text()
    for part in ("optimisation history", "parameter importance", "parallel coordinates"):
        assert part in html
    # The learning rate was sampled on a log scale: its axis is one; the layer width is not.
    assert "train.optimizer.lr (log)</text>" in html
    assert "out_features (log)" not in html
    assert_renders(tmp / "sweep.html", min_plots=4)


def test_promote_the_best_trial_to_a_registry_alias(
    sweep: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from tests.unit.experiments.sweep_support import build_app

    monkeypatch.chdir(sweep["tmp"])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    best = _study(sweep["dir"]).best_trial
    run_dir = best.user_attrs["trainspec.run_dir"]
    client = MlflowClient("sqlite:///" + str(Path(sweep["tmp"]) / "runs" / "mlflow.db"))
    run_id = json.loads((Path(sweep["tmp"]) / run_dir / "tracking.json").read_text())["run_id"]
    # The sweep logged its best trial's MLflow model when it ended (and the parent names it).
    assert "model/MLmodel" in {a.path for a in client.list_artifacts(run_id, "model")}
    parent = client.get_run(client.get_run(run_id).data.tags["mlflow.parentRunId"])
    assert parent.data.tags["trainspec.best_run_id"] == run_id
    res = CliRunner().invoke(build_app(), ["runs", "promote", run_dir, "--alias", "staging"])
    assert res.exit_code == 0, res.output
    assert "models:/digits-tiny@staging" in res.output
    version = client.get_model_version_by_alias("digits-tiny", "staging")
    assert version.run_id == run_id
    files = {a.path for a in client.list_artifacts(run_id, "model")}
    assert "model/MLmodel" in files  # an MLflow model, not loose weights
    # The plain MLflow client loads the registered model and predicts from raw inputs, with
    # the numbers `trainspec predict` gives.
    import mlflow.pyfunc
    import pandas as pd
    from sklearn.datasets import load_digits

    from trainspec.inference import predict_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", client.tracking_uri)
    served = mlflow.pyfunc.load_model("models:/digits-tiny@staging")
    raw = load_digits(as_frame=True).data.iloc[:15]
    expected = predict_run(Path(sweep["tmp"]) / run_dir, raw)
    assert isinstance(expected, pd.DataFrame)
    pd.testing.assert_frame_equal(served.predict(raw), expected)
