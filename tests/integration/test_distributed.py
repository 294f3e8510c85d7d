"""Data-parallel training from the CLI: ``trainspec train --nproc 2`` on the CPU (gloo).

Two processes with batch B must train like one with batch 2B, a run with one rank killed must
stop and resume to the numbers of an uninterrupted one, and digits must learn as well.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration

SLOW_NET = '''
import time

import torch
from torch import nn


class SlowNet(nn.Module):
    """An MLP with dropout whose training steps take a while, so a test can kill it mid-epoch.

    Each step also draws a number of random values that depends on the batch, so the two
    processes' generators (and so their dropout masks) drift apart: a resume must restore
    each process's own.
    """

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, n_classes)
        )

    def forward(self, x):
        if self.training:
            time.sleep(0.05)
            torch.rand(int(x.abs().sum() * 1000))
        return self.net(x)
'''


def _table(folder: Path, n_train: int, n_val: int) -> Path:
    rng = np.random.default_rng(3)
    n = n_train + n_val
    x = rng.normal(size=(n, 4))
    label = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    lines = ["f0,f1,f2,f3,label,part"]
    for i in range(n):
        part = "train" if i < n_train else "val"
        lines.append(",".join(f"{v:.6f}" for v in x[i]) + f",{label[i]},{part}")
    path = folder / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _spec(folder: Path, train: dict[str, Any], model: Any, **extra: Any) -> Path:
    spec = {
        "name": "ddp",
        "seed": 5,
        "task": "classification",
        "model": model,
        "data": {
            "source": {"type": "csv", "path": str(folder / "table.csv")},
            "features": ["f0", "f1", "f2", "f3"],
            "target": "label",
            "split": {"method": "predefined", "column": "part"},
        },
        "train": {
            "optimizer": {"name": "AdamW", "lr": 0.05},
            "metrics": ["accuracy", "f1", "kappa"],
            "progress": "none",
            "device": "cpu",
            **train,
        },
        "tracking": {"backend": "none"},
        **extra,
    }
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


MLP = {
    "layers": [
        {"type": "Linear", "out_features": 16},
        "Tanh",
        {"type": "Linear", "out_features": 3},
    ]
}


def _rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


# The first layer frozen, then learning from epoch 3 at its own learning rate: DDP is rebuilt
# at the unfreeze so that the new parameters' gradients are averaged too.
GRADUAL = {
    "finetune": {"freeze": ["0.*"], "unfreeze": [{"at_epoch": 3, "params": "0.*", "lr": 0.02}]}
}


@pytest.mark.parametrize(
    ("one", "two", "extra"),
    [
        ({"batch_size": 32}, {"batch_size": 16}, {}),
        # accumulation (no_sync on the first batch of each step) and clipping
        (
            {"batch_size": 16, "accumulate_steps": 2, "grad_clip_norm": 0.5},
            {"batch_size": 8, "accumulate_steps": 2, "grad_clip_norm": 0.5},
            {},
        ),
        ({"batch_size": 32}, {"batch_size": 16}, GRADUAL),
    ],
    ids=["per-process", "accumulate-clip", "gradual-unfreeze"],
)
def test_two_processes_with_batch_b_train_like_one_with_2b(
    cli, tmp_path: Path, one: dict[str, Any], two: dict[str, Any], extra: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    _table(tmp_path, n_train=32, n_val=24)
    # 32 training samples and a global batch of 32: every epoch is one optimiser step, so the
    # epochs' train/loss is the per-step loss trajectory.
    runs = {}
    for name, train, nproc in (("one", one, "1"), ("two", two, "2")):
        spec = _spec(tmp_path, {"epochs": 6, **train}, MLP, **extra)
        res = cli("train", str(spec), "--nproc", nproc, "--run-dir", name, timeout=180)
        assert res.returncode == 0, res.stderr[-3000:]
        runs[name] = _rows(tmp_path / name)
    one_rows, two_rows = runs["one"], runs["two"]
    assert [r["step"] for r in two_rows] == [r["step"] for r in one_rows] == list(range(1, 7))
    for a, b in zip(one_rows, two_rows, strict=True):
        assert _close(a["train/loss"], b["train/loss"], 1e-5), (a, b)
        assert _close(a["val/loss"], b["val/loss"], 1e-5), (a, b)
        # metrics over predictions gathered from both ranks, not a mean of per-rank values
        for key in ("val/accuracy", "val/f1", "val/kappa"):
            assert _close(a[key], b[key], 1e-9), (key, a, b)
    env = json.loads((tmp_path / "two" / "environment.json").read_text())
    assert (env["world_size"], env["backend"]) == (2, "gloo")
    assert one_rows[-1]["train/loss"] < one_rows[0]["train/loss"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _rank_pid(launcher: int, rank: int) -> int | None:
    for child in _children(launcher):
        try:
            environ = (Path("/proc") / str(child) / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return child
    return None


def _train_args(spec: Path, run_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trainspec",
        "train",
        str(spec),
        "--nproc",
        "2",
        "--run-dir",
        str(run_dir),
    ]


def test_killed_rank_ends_the_job_and_resume_matches_an_uninterrupted_run(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _table(tmp_path, n_train=64, n_val=16)
    (tmp_path / "slow_net.py").write_text(SLOW_NET)
    model = {"target": "slow_net.SlowNet", "params": {"n_features": 4, "n_classes": 3}}
    train = {"epochs": 3, "batch_size": 8, "checkpoint": {"every_steps": 2}}
    spec = _spec(tmp_path, train, model, allow_imports=["slow_net"])
    env = {**os.environ, "NO_COLOR": "1"}

    reference = cli("train", str(spec), "--nproc", "2", "--run-dir", "reference", timeout=180)
    assert reference.returncode == 0, reference.stderr[-3000:]

    run = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_args(spec, run), cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").is_file() or not (run / "metrics.jsonl").read_text():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the first epoch never ended"
            time.sleep(0.02)
        # Killed right after the mid-epoch checkpoint of step 6 (batch 2 of 4 in epoch 2):
        # rank 0's checkpoint must hold what rank 1 needs to go on from there.
        while not (run / "checkpoints" / "ckpt-00000006").is_dir():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no checkpoint at step 6"
            time.sleep(0.01)
        victim = _rank_pid(proc.pid, 1)
        assert victim is not None, "no process with RANK=1 under the launcher"
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        _, err = proc.communicate(timeout=60)  # bounded: no hang
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode not in (0, None)
    assert time.monotonic() - killed_at < 60
    assert "process 1 of 2 was killed by SIGKILL" in err, err[-3000:]
    assert "Traceback" not in err.split("process 1 of 2")[-1]
    assert len(_rows(run)) < 3

    resumed = cli(
        "train", str(spec), "--nproc", "2", "--run-dir", "killed", "--resume", timeout=180
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert re.search(r"resuming from \S+: epoch 2, batch [1-4],", resumed.stderr), resumed.stderr
    assert (run / "metrics.jsonl").read_bytes() == (
        tmp_path / "reference" / "metrics.jsonl"
    ).read_bytes()


def test_a_run_of_two_processes_resumes_mid_epoch_on_one_at_the_same_global_batch(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _table(tmp_path, n_train=64, n_val=16)
    # A global batch of 16: 8 per process on two, 16 on one; 4 steps per epoch.
    train = {
        "epochs": 3,
        "batch_size": 16,
        "batch_size_scope": "global",
        "checkpoint": {"every_steps": 2, "keep_last": 20},
    }
    spec = _spec(tmp_path, train, MLP)
    res = cli("train", str(spec), "--nproc", "2", "--run-dir", "two", timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    # The run as a kill after step 6 (batch 2 of epoch 2) leaves it: later checkpoints gone.
    shutil.copytree(tmp_path / "two", tmp_path / "cut", symlinks=True)
    for ckpt in (tmp_path / "cut" / "checkpoints").glob("ckpt-*"):
        if int(ckpt.name.split("-")[1]) > 6:
            shutil.rmtree(ckpt)

    res = cli("train", str(spec), "--run-dir", "cut", "--resume", timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "epoch 2, batch 2, step 6" in res.stderr, res.stderr
    assert "resuming a run of 2 process(es) on 1 (the global batch of 16" in res.stderr
    two, one = _rows(tmp_path / "two"), _rows(tmp_path / "cut")
    assert [r["step"] for r in one] == [r["step"] for r in two] == [4, 8, 12]
    assert one[0] == two[0]  # trained by two processes before the cut, read back
    for a, b in zip(one[1:], two[1:], strict=True):
        for key in ("train/loss", "val/loss", "val/accuracy", "val/f1"):
            assert _close(a[key], b[key], 1e-5), (key, a, b)


def test_resume_on_another_process_count_is_refused_when_the_global_batch_changes(
    cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _table(tmp_path, n_train=32, n_val=8)
    spec = _spec(tmp_path, {"epochs": 1, "batch_size": 8}, MLP)
    res = cli("train", str(spec), "--nproc", "2", "--run-dir", "run", timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    more = _spec(tmp_path, {"epochs": 2, "batch_size": 8}, MLP)
    res = cli("train", str(more), "--run-dir", "run", "--resume", timeout=180)
    assert res.returncode == 2
    assert "global batch of 16" in res.stderr and "--nproc 2" in res.stderr, res.stderr
    assert "1 process(es) make a global batch of 8" in res.stderr, res.stderr
    assert "train.batch_size_scope: global" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_digits_on_two_processes_learns_like_one(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = EXAMPLES / "digits" / "train.yaml"
    # the same global batch of 64: batch_size_scope global splits it over the processes
    common = ["train.epochs=4", "train.progress=none", "tracking.backend=none"]
    common += ["train.batch_size=64", "train.batch_size_scope=global"]
    one = cli("train", str(spec), *common, "--run-dir", "one", timeout=180)
    assert one.returncode == 0, one.stderr[-3000:]
    two = cli("train", str(spec), *common, "--nproc", "2", "--run-dir", "two", timeout=180)
    assert two.returncode == 0, two.stderr[-3000:]
    acc_one = _rows(tmp_path / "one")[-1]["val/accuracy"]
    acc_two = _rows(tmp_path / "two")[-1]["val/accuracy"]
    assert acc_one > 0.9
    assert abs(acc_one - acc_two) <= 0.03, (acc_one, acc_two)
    # rank 0 alone reports: one result table, one run directory line
    assert two.stdout.count("run directory:") == 1
