"""Several machines, simulated on one: two torchrun agents joined by a c10d rendezvous.

Each agent is what a user starts on one machine (``torchrun --nnodes 2 --nproc-per-node 1
--rdzv-backend c10d --rdzv-endpoint HOST:PORT -m trainspec train SPEC``); the rendezvous gives
the node ranks. The run must finish on both, rank 0 alone must write the run directory, and
the numbers must be those of one agent with two processes (``--nproc 2``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.test_distributed import MLP, _close, _rows, _spec, _table

pytestmark = pytest.mark.integration

TIMEOUT = 240  # seconds for the whole two-node job; a hang fails the test, it never blocks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _agent(spec: Path, cwd: Path, port: int, run_id: str) -> subprocess.Popen[str]:
    """One machine's torchrun, in its own process group (so that it can be ended with its
    workers)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1"]
    cmd += ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}"]
    cmd += ["--rdzv-id", run_id, "--max-restarts", "0"]
    cmd += ["-m", "trainspec", "train", str(spec)]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _two_nodes(spec: Path, cwds: tuple[Path, Path]) -> list[tuple[int, str, str]]:
    """Run both agents to the end; each one's (exit code, stdout, stderr)."""
    port, run_id = _free_port(), uuid.uuid4().hex[:8]
    agents = [_agent(spec, cwd, port, run_id) for cwd in cwds]
    try:
        out = []
        for agent in agents:
            stdout, stderr = agent.communicate(timeout=TIMEOUT)
            out.append((agent.returncode, stdout, stderr))
        return out
    finally:
        for agent in agents:  # the agent and any worker it left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(agent.pid, signal.SIGKILL)
            agent.wait(timeout=30)


def _run_dirs(root: Path) -> list[Path]:
    return [p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")]


def _job(tmp_path: Path) -> Path:
    _table(tmp_path, n_train=32, n_val=24)
    return _spec(tmp_path, {"epochs": 3, "batch_size": 8}, MLP, run={"root": "runs"})


def test_two_nodes_sharing_a_run_root_train_like_two_processes_on_one(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = _job(tmp_path)
    single = cli("train", str(spec), "--nproc", "2", "--run-dir", "single", timeout=TIMEOUT)
    assert single.returncode == 0, single.stderr[-3000:]

    shared = tmp_path / "shared"  # one working directory: one run root, as on NFS
    results = _two_nodes(spec, (shared, shared))
    for code, _, stderr in results:
        assert code == 0, stderr[-3000:]
    runs = _run_dirs(shared / "runs")
    assert len(runs) == 1, runs  # named by global rank 0, written by it alone
    assert sum(out.count("run directory:") for _, out, _ in results) == 1
    env = json.loads((runs[0] / "environment.json").read_text())
    assert (env["world_size"], env["backend"]) == (2, "gloo")
    assert json.loads((runs[0] / "summary.json").read_text())["status"] == "finished"

    nodes, one = _rows(runs[0]), _rows(tmp_path / "single")
    assert [r["step"] for r in nodes] == [r["step"] for r in one]
    for a, b in zip(one, nodes, strict=True):
        for key in ("train/loss", "val/loss"):
            assert _close(a[key], b[key], 1e-5), (key, a, b)
        for key in ("val/accuracy", "val/f1", "val/kappa"):
            assert _close(a[key], b[key], 1e-9), (key, a, b)


def test_per_node_output_leaves_the_run_on_rank_0s_machine_only(tmp_path: Path) -> None:
    spec = _job(tmp_path)
    nodes = (tmp_path / "node-a", tmp_path / "node-b")  # no shared file system
    results = _two_nodes(spec, nodes)
    for code, _, stderr in results:
        assert code == 0, stderr[-3000:]
    written = [_run_dirs(node / "runs") if (node / "runs").is_dir() else [] for node in nodes]
    assert sorted(len(w) for w in written) == [0, 1], written
    run = next(w[0] for w in written if w)
    assert json.loads((run / "environment.json").read_text())["world_size"] == 2
    assert len(_rows(run)) == 3
    assert (run / "model").is_dir()
