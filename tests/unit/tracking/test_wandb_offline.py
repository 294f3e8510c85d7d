"""The wandb backend's translation to wandb calls, checked against a stand-in ``wandb`` module.

The real package is an optional extra; the contract suite runs on it where it is installed.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from trainspec.tracking import TrackingSpec, WandbTracker, create_tracker


class FakeConfig(dict[str, Any]):
    def update(self, values: dict[str, Any], *, allow_val_change: bool = False) -> None:  # type: ignore[override]
        assert allow_val_change, "wandb refuses to change a config value without it"
        super().update(values)


class FakeRun:
    def __init__(self, **kwargs: Any) -> None:
        self.init = kwargs
        self.id = kwargs.get("id") or "w-1"
        self.logged: list[tuple[int, dict[str, float]]] = []
        self.config = FakeConfig()
        self.summary: dict[str, Any] = {}
        self.artifacts: list[Any] = []
        self.exit_code: int | None = None

    def log(self, data: dict[str, float], *, step: int) -> None:
        self.logged.append((step, dict(data)))

    def log_artifact(self, artifact: Any) -> None:
        self.artifacts.append(artifact)

    def finish(self, *, exit_code: int) -> None:
        self.exit_code = exit_code


class FakeArtifact:
    def __init__(self, *, name: str, type: str) -> None:
        self.name = name
        self.files: list[tuple[str, str | None]] = []

    def add_file(self, path: str, name: str | None = None) -> None:
        self.files.append((path, name))

    def add_dir(self, path: str, name: str | None = None) -> None:
        self.files.append((path, name))


@pytest.fixture
def fake_wandb(monkeypatch: pytest.MonkeyPatch) -> list[FakeRun]:
    runs: list[FakeRun] = []
    module = types.ModuleType("wandb")
    module.__spec__ = importlib.machinery.ModuleSpec("wandb", None)

    def init(**kwargs: Any) -> FakeRun:
        runs.append(FakeRun(**kwargs))
        return runs[-1]

    module.init = init  # type: ignore[attr-defined]
    module.Artifact = FakeArtifact  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wandb", module)
    return runs


def test_a_wandb_run_is_offline_and_batches_metrics_by_step(
    fake_wandb: list[FakeRun], tmp_path: Path
) -> None:
    spec = TrackingSpec(backend="wandb", experiment="ecg", flush_every=100, tags={"team": "a"})
    tracker = create_tracker(spec, runs_root=tmp_path)
    assert isinstance(tracker, WandbTracker)
    with tracker:
        run_id = tracker.start(
            run_name="trial-3",
            run_dir=tmp_path / "run",
            tags={"trainspec.spec_hash": "cafe"},
            params={"train": {"optimizer": {"lr": 0.01}}},
            parent_run_id="sweep-1",
        )
        for step in range(3):
            tracker.log_metrics({"loss": float(step), "acc": 0.5}, step=step)
        (tmp_path / "summary.json").write_text("{}")
        tracker.log_artifact(tmp_path / "summary.json")
    run = fake_wandb[0]
    assert run_id == "w-1"
    assert run.init["mode"] == "offline" and run.init["project"] == "ecg"
    assert run.init["group"] == "sweep-1" and run.init["dir"] == str(tmp_path / "run")
    assert run.init["config"]["train.optimizer.lr"] == "0.01"
    assert run.init["config"]["tags.trainspec.spec_hash"] == "cafe"
    assert run.init["config"]["tags.team"] == "a"
    assert run.logged == [(s, {"loss": float(s), "acc": 0.5}) for s in range(3)]
    assert run.artifacts[0].files == [(str(tmp_path / "summary.json"), None)]
    assert run.exit_code == 0 and run.summary["trainspec.status"] == "FINISHED"


def test_a_failed_wandb_run_exits_nonzero(fake_wandb: list[FakeRun], tmp_path: Path) -> None:
    tracker = create_tracker(TrackingSpec(backend="wandb"), runs_root=tmp_path, job_name="j")
    with pytest.raises(RuntimeError), tracker:
        tracker.start(run_name="r", run_dir=tmp_path, tags={}, params={}, resume_run_id="w-9")
        raise RuntimeError("boom")
    run = fake_wandb[0]
    assert run.init["id"] == "w-9" and run.init["resume"] == "allow"
    assert run.exit_code == 1 and run.summary["trainspec.status"] == "FAILED"
    assert run.config["tags.trainspec.error"] == "RuntimeError: boom"
