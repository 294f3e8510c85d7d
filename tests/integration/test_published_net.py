"""A network as published, used with no glue file: examples/published_net's module (a
dict-taking, sample-probing constructor; forward(x, mask, lengths) returning probabilities)
and its weighted per-epoch loss, built from the authors' checkpoint with strict loading,
fine-tuned with its encoder frozen, then predicted and served from another folder after the
module file was moved away: the run's saved copy of the code is what loads."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "published_net"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH beyond the package itself: the user's module is found only where a
    # user's would be (the spec's folder, the working directory, the run's saved code).
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run(
        [sys.executable, "-m", "trainspec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, f"{' '.join(args)}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("published")
    work = tmp / "work"  # the user's folder: the authors' files, their data and checkpoint
    work.mkdir()
    for name in ("sleepnet.py", "net_parameters.json", "finetune.yaml"):
        shutil.copy(EXAMPLE / name, work / name)
    make = _load("published_make_data", EXAMPLE / "make_data.py")
    nights = make.make_nights(work / "data" / "nights.h5")
    make.make_checkpoint(work / "data" / "published.pt")
    run = tmp / "run"
    res = _cli(
        "train",
        "finetune.yaml",
        "--run-dir",
        str(run),
        f"run.root={tmp / 'runs'}",
        "tracking.backend=mlflow",  # the embedded store beside the runs
        cwd=work,
    )
    # Keep an untouched copy of the authors' module for the checks, then move theirs away.
    shutil.copy(work / "sleepnet.py", tmp / "reference_sleepnet.py")
    (work / "sleepnet.py").rename(tmp / "moved_away.py")
    other = tmp / "other"
    other.mkdir()
    return {
        "tmp": tmp,
        "work": work,
        "run": run,
        "nights": nights,
        "other": other,
        "train_log": Path(_write(tmp / "train.log", res.stdout + res.stderr)),
    }


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _state(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _module_probabilities(trained: dict[str, Path], features: np.ndarray) -> np.ndarray:
    """What the authors' own module, with the run's best weights, returns for one night."""
    import torch

    nets = _load("reference_sleepnet", trained["tmp"] / "reference_sleepnet.py")
    params = json.loads((trained["work"] / "net_parameters.json").read_text())
    net = nets.EpochNet(params, {"x": torch.zeros(1, 5, features.shape[-1])})
    net.load_state_dict(_state(trained["run"] / "checkpoints/best/model.safetensors"))
    net.eval()
    x = torch.from_numpy(features[None].astype(np.float32))
    mask = torch.ones(1, len(features), dtype=torch.bool)
    with torch.no_grad():
        return np.asarray(net(x, mask, torch.tensor([len(features)]))[0].numpy())


def _night(path: Path, name: str) -> np.ndarray:
    import h5py

    with h5py.File(path) as f:
        return np.asarray(f[f"records/{name}/features"][()])


def test_built_from_the_checkpoint_strictly_and_fine_tuned_frozen(
    trained: dict[str, Path],
) -> None:
    import torch

    log = trained["train_log"].read_text()
    assert "8 loaded, 0 missing, 0 unexpected, 0 shape-mismatched" in log
    published = torch.load(
        trained["work"] / "data/published.pt", weights_only=True, map_location="cpu"
    )["model_state_dict"]
    best = _state(trained["run"] / "checkpoints/best/model.safetensors")
    assert set(best) == set(published)
    for name, value in published.items():
        same = torch.equal(best[name], value)
        assert same == name.startswith("encoder."), name  # frozen encoder, trained rest
    history = [
        json.loads(line) for line in (trained["run"] / "metrics.jsonl").read_text().splitlines()
    ]
    losses = [row["train/loss"] for row in history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_the_code_is_saved_with_the_run(trained: dict[str, Path]) -> None:
    import hashlib

    run = trained["run"]
    saved = run / "code" / "sleepnet.py"
    assert saved.read_bytes() == (trained["tmp"] / "reference_sleepnet.py").read_bytes()
    env = json.loads((run / "environment.json").read_text())
    [entry] = env["code"]
    assert entry["module"] == "sleepnet" and entry["path"] == "sleepnet.py"
    assert entry["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    # Logged to MLflow with the run, read back with the plain client.
    from mlflow.tracking import MlflowClient

    run_id = json.loads((run / "tracking.json").read_text())["run_id"]
    client = MlflowClient(tracking_uri=f"sqlite:///{trained['tmp'] / 'runs' / 'mlflow.db'}")
    logged = {a.path for a in client.list_artifacts(run_id, "code")}
    assert logged == {"code/sleepnet.py", "code/manifest.json"}
    local = client.download_artifacts(run_id, "code/sleepnet.py", str(trained["tmp"]))
    assert Path(local).read_bytes() == saved.read_bytes()


def test_predicted_from_another_folder_without_the_module_file(
    trained: dict[str, Path],
) -> None:
    out = trained["other"] / "predictions.csv"
    data = str(trained["nights"])
    _cli("predict", str(trained["run"]), "--data", data, "--out", str(out), cwd=trained["other"])
    frame = pd.read_csv(out)
    proba = frame.filter(like="proba_").to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    # The module's own probabilities, not a softmax over them.
    night = frame[frame["record"] == "night000"].sort_values("epoch")
    expected = _module_probabilities(trained, _night(trained["nights"], "night000"))
    np.testing.assert_allclose(night.filter(like="proba_").to_numpy(), expected, atol=1e-5)
    assert (frame["prediction"] == frame["target"]).mean() > 0.6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_served_from_another_folder(trained: dict[str, Path]) -> None:
    port = _free_port()
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT / "src")}
    args = [sys.executable, "-m", "trainspec", "serve", str(trained["run"]), "--port", str(port)]
    proc = subprocess.Popen(
        args, cwd=trained["other"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the server did not become ready"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            time.sleep(0.2)
        features = _night(trained["nights"], "night001")
        body = {"instances": [{"x": features.tolist()}]}
        answer = httpx.post(f"{base}/predict", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        [served] = answer.json()["probabilities"]
        expected = _module_probabilities(trained, features)
        np.testing.assert_allclose(np.asarray(served), expected, atol=1e-5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_run_retrains_from_its_own_config_elsewhere(trained: dict[str, Path]) -> None:
    rerun = trained["tmp"] / "rerun"
    config = str(trained["run"] / "config.yaml")
    _cli("train", config, "--run-dir", str(rerun), "-q", cwd=trained["other"])
    saved = (rerun / "code" / "sleepnet.py").read_bytes()
    assert saved == (trained["run"] / "code" / "sleepnet.py").read_bytes()
    first = (trained["run"] / "metrics.jsonl").read_text().splitlines()
    again = (rerun / "metrics.jsonl").read_text().splitlines()
    drop = ("time",)
    rows = [
        [{k: v for k, v in json.loads(r).items() if k not in drop} for r in f]
        for f in (first, again)
    ]
    assert rows[0] == rows[1]  # the same numbers, from the saved code
