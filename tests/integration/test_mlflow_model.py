"""A trained run is a real MLflow model: the plain MLflow client loads it and predicts from raw
inputs, from another working directory, with the numbers `trainspec predict` gives."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

LOAD = """
import sys, mlflow, mlflow.pyfunc, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
print(model.metadata.get_input_schema().input_names()[:2])
model.predict(pd.read_csv(sys.argv[3])).to_csv(sys.argv[4], index=False)
"""


def test_a_trained_run_loads_with_mlflow_pyfunc_elsewhere(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd
    from sklearn.datasets import load_digits

    spec = str(EXAMPLES / "digits" / "train.yaml")
    res = cli("train", spec, "train.epochs=2", "--quiet", "--run-dir", "runs/digits")
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "runs" / "digits"
    run_id = json.loads((run_dir / "tracking.json").read_text())["run_id"]
    load_digits(as_frame=True).data.iloc[:30].to_csv(tmp_path / "new.csv", index=False)
    assert cli("predict", str(run_dir), "--data", "new.csv", "--out", "ours.csv").returncode == 0

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD, uri, f"runs:/{run_id}/model", str(tmp_path / "new.csv"),
         "theirs.csv"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "['pixel_0_0', 'pixel_0_1']" in done.stdout  # the signature names the columns
    pd.testing.assert_frame_equal(
        pd.read_csv(elsewhere / "theirs.csv"), pd.read_csv(tmp_path / "ours.csv")
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(port: int, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


def _wait_until_up(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 240  # a loaded two-core machine starts uvicorn slowly
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer on port {port}: {log.read_text()[-3000:]}")


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_mlflow_models_serve_answers_as_trainspec_predict(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`runs promote` registers the model; MLflow's own scoring server serves
    models:/<name>@<alias> with `--env-manager local` and answers raw rows as `predict`."""
    import pandas as pd
    from sklearn.datasets import load_digits

    spec = str(EXAMPLES / "digits" / "train.yaml")
    res = cli("train", spec, "train.epochs=1", "--quiet", "--run-dir", "runs/digits")
    assert res.returncode == 0, res.stderr
    res = cli("runs", "promote", "runs/digits", "--alias", "staging", "--name", "digits")
    assert res.returncode == 0, res.stderr
    rows = load_digits(as_frame=True).data.iloc[:7]
    rows.to_csv(tmp_path / "new.csv", index=False)
    assert cli("predict", "runs/digits", "--data", "new.csv", "--out", "ours.csv").returncode == 0

    port = _free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"}
    # MLflow starts its scoring server as `exec uvicorn ...` through a shell, so the venv's bin
    # folder must be on PATH, as it is for a user with the venv activated (`make` does not).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/digits@staging",
               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    with log.open("wb") as sink:
        server = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn's workers end with it
        )  # fmt: skip
    try:
        _wait_until_up(server, port, log)
        answer = _post(port, "/invocations", {"dataframe_split": rows.to_dict(orient="split")})
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    theirs = pd.DataFrame(answer["predictions"])
    ours = pd.read_csv(tmp_path / "ours.csv")
    assert list(theirs.columns) == list(ours.columns)
    assert theirs["prediction"].astype(str).tolist() == ours["prediction"].astype(str).tolist()
    proba = [c for c in ours.columns if c.startswith("proba_")]
    assert len(proba) == 10
    np.testing.assert_allclose(theirs[proba].to_numpy(), ours[proba].to_numpy(), rtol=1e-5)
