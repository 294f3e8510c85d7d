"""Fault battery, storage: a full disk, a read-only file system and a refused permission during
a run end it with exit status 2 and one sentence naming the path and the free space; the
previous checkpoint stays intact, and the failure is in summary.json where it can be written.

The full disk is a 1.5 MiB tmpfs (mounting needs root: skipped otherwise); the refused
permission is met by an unprivileged user (root ignores file modes: skipped where no such user
can be switched to).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.unit.experiments.sweep_support import digits_job

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def _mount(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip() or 'not permitted'})")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    where = tmp_path / "disk"
    _mount(where, "1536k")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _wide_job(folder: Path, epochs: int) -> Path:
    """Digits with a 1000-unit layer: each checkpoint (weights and AdamW state) is ~0.9 MB."""
    spec = digits_job(folder, epochs=epochs)
    data = yaml.safe_load(spec.read_text())
    data["model"]["layers"][0]["out_features"] = 1000
    data["train"]["checkpoint"] = {"every_epochs": 1, "keep_last": 2}
    # The data cache would sit beside --run-dir on the small disk: the space is the checkpoints'.
    data["data"]["cache"] = False
    spec.write_text(yaml.safe_dump(data))
    return spec


def _train(
    *args: str, env: dict[str, str] | None = None, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "trainspec", "train", *args, "-q"]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    full = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=full)


def _one_sentence(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    return errors[0]


def test_disk_full_mid_run_keeps_the_last_checkpoint_and_records_the_failure(
    tmp_path: Path, small_disk: Path
) -> None:
    from trainspec.engine import load_checkpoint

    spec = _wide_job(tmp_path, epochs=3)
    run = small_disk / "run"
    res = _train(str(spec), "--run-dir", str(run))
    assert res.returncode == 2, res.stderr[-3000:]
    line = _one_sentence(res.stderr)
    assert "no space left on the device" in line and str(small_disk) in line
    assert "free there" in line
    ckpts = run / "checkpoints"
    assert load_checkpoint(ckpts / "last").state["epoch"] == 1  # the previous one, intact
    assert not list(ckpts.glob(".tmp-*"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "no space left" in summary["reason"]


def test_read_only_file_system_on_resume_exits_2_naming_the_path(
    tmp_path: Path, small_disk: Path
) -> None:
    spec = digits_job(tmp_path, epochs=1)
    run = small_disk / "run"
    first = _train(str(spec), "--run-dir", str(run))
    assert first.returncode == 0, first.stderr[-3000:]
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    res = _train(str(spec), "train.epochs=2", "--run-dir", str(run), "--resume")
    assert res.returncode == 2, res.stderr[-3000:]
    line = _one_sentence(res.stderr)
    assert "read-only" in line and str(run) in line and "free" in line
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's own tmp folders are private)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("switching to an unprivileged user needs root and setpriv(1)")
    folder = Path(tempfile.mkdtemp(prefix="trainspec-perm-"))
    folder.chmod(0o755)
    probe = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "true"],
        capture_output=True,
    )
    if probe.returncode != 0:
        shutil.rmtree(folder)
        pytest.skip("cannot switch to the unprivileged user 65534 here")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_permission_denied_for_checkpoints_exits_2_and_records_the_failure(
    shared_dir: Path,
) -> None:
    work = shared_dir / "work"
    work.mkdir()
    spec = digits_job(work, epochs=2)
    run = work / "run"
    (run / "checkpoints").mkdir(parents=True)  # owned by root, mode 755: not the user's
    for path in (work, run, work / "runs"):
        path.mkdir(exist_ok=True)
        os.chown(path, NOBODY, NOBODY)
    env = {"HOME": str(work), "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    res = _train(str(spec), "--run-dir", str(run), env=env, user=NOBODY)
    assert res.returncode == 2, res.stderr[-3000:]
    line = _one_sentence(res.stderr)
    assert "permission denied" in line and str(run / "checkpoints") in line
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "permission denied" in summary["reason"]
