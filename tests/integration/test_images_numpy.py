"""The images and numpy examples end to end through the CLI: make data, train, predict;
bad files; an image run with augmentations killed and resumed repeats an unbroken one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

IMAGES = EXAMPLES / "images"
FAST = ("tracking.backend=none", "train.progress=none")


def _make_images(folder: Path, per_class: int, seed: int = 0) -> None:
    subprocess.run(
        [sys.executable, str(IMAGES / "make_data.py"), str(folder), "--per-class", str(per_class),
         "--seed", str(seed)],
        check=True, capture_output=True,
    )  # fmt: skip


def _train_images(cli, tmp_path: Path, run: str, *extra: str):  # type: ignore[no-untyped-def]
    return cli(
        "train", str(IMAGES / "train.yaml"), f"data.source.path={tmp_path / 'shapes'}",
        "train.epochs=2", *FAST, *extra, "--run-dir", str(tmp_path / run),
    )  # fmt: skip


def test_images_example_trains_and_predicts_folders_files_and_globs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _make_images(tmp_path / "shapes", per_class=8)
    res = _train_images(cli, tmp_path, "run")
    assert res.returncode == 0, res.stderr
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data["input_shapes"] == {"x": [3, 24, 24]}  # after the random resized crop
    assert data["class_names"] == ["circle", "square", "triangle"]
    _make_images(tmp_path / "new", per_class=2, seed=1)
    out = tmp_path / "p.csv"
    res = cli("predict", str(tmp_path / "run"), "--data", str(tmp_path / "new"), "--out", str(out))
    assert res.returncode == 0, res.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 6 and list(frame.columns[:2]) == ["path", "prediction"]
    assert set(frame["target"]) == {"circle", "square", "triangle"}  # from the subfolders
    assert np.allclose(frame.filter(like="proba_").sum(axis=1), 1.0, atol=1e-5)
    pattern = str(tmp_path / "new" / "square" / "*.png")
    res = cli("predict", str(tmp_path / "run"), "--data", pattern, "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert len(pd.read_csv(out)) == 2
    res = cli("predict", str(tmp_path / "run"), "--data", str(tmp_path / "nothing*.png"),
              "--out", str(out))  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "names no image file" in res.stderr
    res = cli("evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "new"), "--json")
    assert res.returncode == 0, res.stderr
    assert "accuracy" in res.stdout
    _upload_matches_predict(tmp_path / "run", tmp_path / "new" / "square", frame)


def _upload_matches_predict(run: Path, folder: Path, predicted: pd.DataFrame) -> None:
    """Image files POSTed to the server as multipart form data get predict's answers."""
    from fastapi.testclient import TestClient

    from trainspec.inference._app import create_app
    from trainspec.inference._service import ModelService, ServeOptions

    service = ModelService(run, ServeOptions())
    service.load()
    client = TestClient(create_app(service, load=False))
    paths = sorted(folder.glob("*.png"))
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]
    res = client.post("/predict/images", files=files)
    assert res.status_code == 200, res.text
    rows = predicted.set_index("path").loc[[f"square/{p.name}" for p in paths]]
    assert res.json()["predictions"] == list(rows["prediction"])
    np.testing.assert_allclose(
        np.asarray(res.json()["probabilities"]), rows.filter(like="proba_").to_numpy(), atol=1e-5
    )
    res = client.post("/predict/images", files=[("files", ("x.png", b"not a png", "image/png"))])
    assert res.status_code == 422 and "x.png" in res.text


def test_corrupt_image_stops_with_its_name_or_is_skipped_and_listed(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _make_images(tmp_path / "shapes", per_class=6)
    broken = tmp_path / "shapes" / "circle" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    res = _train_images(cli, tmp_path, "run", "train.epochs=1")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert str(broken) in res.stderr and "data.on_bad: skip" in res.stderr
    res = _train_images(cli, tmp_path, "skip", "train.epochs=1", "data.on_bad=skip")
    assert res.returncode == 0, res.stderr
    listed = json.loads((tmp_path / "skip" / "bad_files.json").read_text())
    assert [b["file"] for b in listed] == [str(broken)]


def test_image_run_killed_and_resumed_matches_an_unbroken_one(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _make_images(tmp_path / "shapes", per_class=6)
    args = ("train.epochs=3", "train.checkpoint.every_steps=1")
    res = _train_images(cli, tmp_path, "whole", *args)
    assert res.returncode == 0, res.stderr
    env = {**os.environ, "NO_COLOR": "1"}
    cmd = [
        sys.executable, "-m", "trainspec", "train", str(IMAGES / "train.yaml"),
        f"data.source.path={tmp_path / 'shapes'}", "train.epochs=2", *FAST, *args,
        "--run-dir", str(tmp_path / "killed"),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    last = tmp_path / "killed" / "checkpoints" / "last"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if last.exists() and any(last.iterdir()):
            time.sleep(0.3)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    res = cli(*cmd[3:], "--resume")
    assert res.returncode == 0, res.stderr

    def rows(run: str) -> list[dict]:
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if "time" not in k} for x in lines]

    assert rows("killed") == rows("whole")


def test_numpy_example_trains_on_xy_files_and_predicts_an_x_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    subprocess.run(
        [sys.executable, str(EXAMPLES / "numpy" / "make_data.py"), str(tmp_path / "data"),
         "-n", "120"],
        check=True, capture_output=True,
    )  # fmt: skip
    res = cli("train", str(EXAMPLES / "numpy" / "train.yaml"), "train.epochs=2", *FAST,
              "--run-dir", str(tmp_path / "run"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = tmp_path / "p.csv"
    res = cli("predict", str(tmp_path / "run"), "--data", str(tmp_path / "data" / "X_new.npy"),
              "--out", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 50 and {"proba_0", "proba_1", "proba_2"} <= set(frame.columns)
    res = cli("train", str(EXAMPLES / "numpy" / "train.yaml"), "data.source.x=data/x.npy", *FAST,
              "--run-dir", str(tmp_path / "bad"))  # fmt: skip
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "X.npy" in res.stderr  # the folder's listing shows the real name
