"""Fault battery, checkpoints: a kill at every step of the save-and-publish sequence leaves a
run that resumes to the numbers of an uninterrupted one, with ``best`` naming the weights of
the best epoch; leftovers of an older two-rename publish are repaired, not pruned.

A kill is injected deterministically: every file-system operation of the checkpoint code is
counted, and at operation k the run directory is copied as it stands (what a SIGKILL at that
instant leaves on disk) and the run is stopped. The copy is then resumed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from tests.unit.engine.helpers import ArraySource, classification_data, mlp
from trainspec.engine import FitSettings, fit, load_checkpoint
from trainspec.engine import _checkpoint as ckpt_module
from trainspec.engine import _publish as publish_module
from trainspec.spec._schema_train import TrainSpec

pytestmark = pytest.mark.integration

CONFIG = {
    "epochs": 4,
    "batch_size": 32,
    "progress": "none",
    # val/loss falls for two epochs, then rises: best is epoch 2, older than the newest
    "optimizer": {"name": "AdamW", "lr": 0.2},
    "metrics": ["accuracy"],
    # keep_last 1: pruning runs at every save, and the best checkpoint is often not the newest
    "checkpoint": {"every_epochs": 1, "keep_last": 1},
}
_OS_OPS = ("mkdir", "rename", "replace", "symlink", "link", "unlink")


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (the copy was taken before the operation)."""


class Injector:
    """Counts file-system operations of the checkpoint code; at operation ``at`` copies the
    run directory to ``snapshot`` and stops the run."""

    def __init__(self, run_dir: Path, at: int | None, snapshot: Path) -> None:
        self.run_dir, self.at, self.snapshot = run_dir, at, snapshot
        self.count = 0
        self.dead = False
        self.ops: list[str] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def op(*args: Any, **kwargs: Any) -> Any:
            if not self.dead:
                self.count += 1
                self.ops.append(f"{name} {Path(str(args[0])).name if args else ''}")
                if self.count == self.at:
                    shutil.copytree(self.run_dir, self.snapshot, symlinks=True)
                    self.dead = True
                    raise Killed
            return fn(*args, **kwargs)

        return op

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_os = SimpleNamespace(**{n: getattr(os, n) for n in dir(os) if not n.startswith("__")})
        for name in _OS_OPS:
            setattr(fake_os, name, self.wrap(f"os.{name}", getattr(os, name)))
        fake_shutil = SimpleNamespace(
            rmtree=self.wrap("rmtree", shutil.rmtree),
            copy2=self.wrap("copy2", shutil.copy2),
        )
        for module in (ckpt_module, publish_module):
            monkeypatch.setattr(module, "os", fake_os)
            monkeypatch.setattr(module, "shutil", fake_shutil)
        monkeypatch.setattr(ckpt_module, "_write_file", self.wrap("write", ckpt_module._write_file))
        manifest = self.wrap("write_manifest", ckpt_module.write_manifest)
        monkeypatch.setattr(ckpt_module, "write_manifest", manifest)


def _fit(run_dir: Path, *, resume: bool = False) -> None:
    data = classification_data(128, seed=3)
    train = ArraySource({k: v[:96] for k, v in data.items()}, noise=0.2)
    val = ArraySource({k: v[96:] for k, v in data.items()})
    fit(
        mlp(dropout=0.2),
        train,
        val,
        FitSettings(
            config=TrainSpec.model_validate(CONFIG),
            task="classification",
            num_classes=3,
            seed=5,
        ),
        run_dir=run_dir,
        resume=resume,
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).model


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _check_consistent(run: Path, reference: Path) -> None:
    assert (run / "metrics.jsonl").read_bytes() == (reference / "metrics.jsonl").read_bytes()
    ckpts = run / "checkpoints"
    assert _same(_weights(ckpts / "best"), _weights(reference / "checkpoints" / "best"))
    assert _same(_weights(ckpts / "last"), _weights(reference / "checkpoints" / "last"))
    leftovers = [p.name for p in ckpts.iterdir() if p.name.startswith((".tmp", ".old", ".del"))]
    assert leftovers == []


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # fsync makes data durable against power loss; a kill does not need it, and on a slow
    # disk it is the bulk of this test's time. A tiny model: more threads only contend.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Injector:
    counting = Injector(tmp_path / "reference", None, tmp_path / "unused")
    with monkeypatch.context() as patch:
        counting.install(patch)
        _fit(tmp_path / "reference")
    return counting


def _kill_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: int) -> Path:
    killed, snapshot = tmp_path / f"run-{at}", tmp_path / f"killed-{at}"
    injector = Injector(killed, at, snapshot)
    with monkeypatch.context() as patch:
        injector.install(patch)
        with pytest.raises(Killed):
            _fit(killed)
    shutil.rmtree(killed)
    _fit(snapshot, resume=True)
    return snapshot


def test_a_kill_at_every_step_of_saving_and_publishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: None
) -> None:
    reference = tmp_path / "reference"
    counting = _reference(tmp_path, monkeypatch)
    assert counting.count >= 40, counting.ops  # 4 saves of about 10 operations each
    assert os.readlink(reference / "checkpoints" / "best") == "ckpt-00000006"
    for at in range(1, counting.count + 1):
        resumed = _kill_and_resume(tmp_path, monkeypatch, at)
        try:
            _check_consistent(resumed, reference)
        except AssertionError as exc:
            raise AssertionError(f"killed before {counting.ops[at - 1]!r} (op {at})") from exc
        shutil.rmtree(resumed)


def test_without_symlinks_a_kill_between_the_two_renames_restores_best(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: None
) -> None:
    """Where links cannot be made, ``best`` is a copy replaced by two renames; a kill between
    them leaves only ``.old-best-*``, which the resume restores instead of pruning."""

    def no_symlinks(*args: Any, **kwargs: Any) -> None:
        raise OSError(1, "symbolic links are not supported here")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    reference = tmp_path / "reference"
    counting = _reference(tmp_path, monkeypatch)
    assert not os.path.islink(reference / "checkpoints" / "best")
    # the third save is not a best one; the second replaces best: kill just after best/ moved
    aside = [i for i, op in enumerate(counting.ops, 1) if op == "os.rename best"]
    assert len(aside) >= 1, counting.ops
    at = aside[0] + 1  # best/ is .old-best-* now; the new copy is not yet in its place
    resumed = _kill_and_resume(tmp_path, monkeypatch, at)
    _check_consistent(resumed, reference)
