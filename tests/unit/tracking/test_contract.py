"""The Tracker contract, run against every backend, each read back from its own store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.unit.tracking.wandb_files import read_offline_run
from trainspec.errors import TrainspecError
from trainspec.tracking import StopRun, Tracker, TrackingError, TrackingSpec, create_tracker


@dataclass
class Backend:
    name: str
    make: Callable[..., Tracker]
    # Read back from the backend's own store; None where the backend keeps nothing to read.
    status: Callable[[str], str | None]
    history: Callable[[str, str], list[tuple[int, float]] | None]


@pytest.fixture(
    params=[
        "mlflow",
        "none",
        "wandb",
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "mlflow":
        client = request.getfixturevalue("client")
        return Backend(
            "mlflow",
            request.getfixturevalue("make_mlflow"),
            lambda run_id: client.get_run(run_id).info.status,
            lambda run_id, key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)],
        )

    def make(**fields: Any) -> Tracker:
        spec = TrackingSpec(backend=request.param, experiment="contract", **fields)
        return create_tracker(spec, runs_root=tmp_path)

    if request.param == "wandb":
        # The offline run files, read as `wandb sync` would upload them.
        return Backend(
            "wandb",
            make,
            lambda run_id: read_offline_run(tmp_path, run_id).summary.get("trainspec.status"),
            lambda run_id, key: [
                (row["_step"], row[key])
                for row in read_offline_run(tmp_path, run_id).history
                if key in row
            ],
        )
    return Backend(request.param, make, lambda _: None, lambda _r, _k: None)


def _start(tracker: Tracker, tmp_path: Path, **kwargs: Any) -> str:
    return tracker.start(
        run_name="contract",
        run_dir=tmp_path / "run",
        tags={"trainspec.spec_hash": "0123abcd"},
        params={"train": {"optimizer": {"lr": 0.001}}},
        **kwargs,
    )


def test_a_run_starts_logs_and_finishes(backend: Backend, tmp_path: Path) -> None:
    tracker = backend.make()
    assert tracker.run_id is None
    run_id = _start(tracker, tmp_path)
    assert run_id and tracker.run_id == run_id
    for epoch in range(3):
        tracker.log_metrics({"train/loss": 1.0 / (epoch + 1)}, step=epoch)
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "model.safetensors").write_bytes(b"\0")
    tracker.log_artifact(tmp_path / "summary.json")
    tracker.log_artifact(tmp_path / "best", "checkpoints")
    tracker.set_tags({"stage": "done"})
    tracker.finish("FINISHED")
    assert backend.status(run_id) in (None, "FINISHED")
    assert backend.history(run_id, "train/loss") in (None, [(0, 1.0), (1, 0.5), (2, 1 / 3)])


def test_an_offline_wandb_run_holds_config_metrics_and_summary(tmp_path: Path) -> None:
    spec = TrackingSpec(backend="wandb", experiment="contract", flush_every=1)
    tracker = create_tracker(spec, runs_root=tmp_path)
    run_id = _start(tracker, tmp_path)
    for epoch in range(3):
        tracker.log_metrics(
            {"train/loss": 1.0 / (epoch + 1), "val/acc": 0.5 + epoch / 10}, step=epoch
        )
    tracker.finish("FINISHED")
    run = read_offline_run(tmp_path, run_id)
    assert float(run.config["train.optimizer.lr"]) == 0.001
    assert run.config["tags.trainspec.spec_hash"] == "0123abcd"
    assert [(row["_step"], row["val/acc"]) for row in run.history] == [(0, 0.5), (1, 0.6), (2, 0.7)]
    assert run.summary["train/loss"] == pytest.approx(1 / 3)
    assert run.summary["trainspec.status"] == "FINISHED"
    assert run.exit_code == 0


@pytest.mark.parametrize(
    ("error", "status"),
    [(None, "FINISHED"), (ValueError, "FAILED"), (KeyboardInterrupt, "KILLED")],
)
def test_leaving_the_with_block_sets_the_status(
    backend: Backend, tmp_path: Path, error: type[BaseException] | None, status: str
) -> None:
    tracker = backend.make()
    raised = pytest.raises(error) if error else None
    if raised:
        with raised, tracker:
            run_id = _start(tracker, tmp_path)
            raise error("boom")  # type: ignore[misc]
    else:
        with tracker:
            run_id = _start(tracker, tmp_path)
    assert backend.status(run_id) in (None, status)
    with pytest.raises(TrackingError, match="already finished"):
        tracker.log_metrics({"x": 1.0}, step=0)


def test_a_run_stopped_on_purpose_ends_finished_with_its_tags(
    backend: Backend, tmp_path: Path
) -> None:
    tracker = backend.make()
    with pytest.raises(StopRun), tracker:
        run_id = _start(tracker, tmp_path)
        raise StopRun("pruned at step 1", tags={"trainspec.stopped": "pruner"})
    assert backend.status(run_id) in (None, "FINISHED")
    if backend.name == "mlflow":
        tags = backend.make().connect().get_run(run_id).data.tags  # type: ignore[attr-defined]
        assert tags["trainspec.stopped"] == "pruner" and "trainspec.error" not in tags
    if backend.name == "wandb":
        config = read_offline_run(tmp_path, run_id).config
        assert config["tags.trainspec.stopped"] == "pruner"
        assert "tags.trainspec.error" not in config


def test_misuse_is_a_clear_trainspec_error(backend: Backend, tmp_path: Path) -> None:
    tracker = backend.make()
    with pytest.raises(TrainspecError, match="call start"):
        tracker.log_metrics({"loss": 1.0}, step=0)
    with pytest.raises(TrackingError, match="call start"):
        tracker.finish()
    _start(tracker, tmp_path)
    with pytest.raises(TrackingError, match="already started"):
        _start(tracker, tmp_path)
    with pytest.raises(TrackingError, match="'loss' must be a number; got str"):
        tracker.log_metrics({"loss": "low"}, step=0)  # type: ignore[dict-item]
    with pytest.raises(TrackingError, match="non-negative int"):
        tracker.log_metrics({"loss": 1.0}, step=-1)
    with pytest.raises(TrackingError, match="no such file"):
        tracker.log_artifact(tmp_path / "missing.txt")
    with pytest.raises(TrackingError, match="FINISHED, FAILED, KILLED; got 'DONE'"):
        tracker.finish("DONE")  # type: ignore[arg-type]
    tracker.finish("FAILED")
    tracker.finish("FINISHED")  # a second finish changes nothing
    assert backend.status(tracker.run_id or "") in (None, "FAILED")


def test_resume_continues_the_same_run(backend: Backend, tmp_path: Path) -> None:
    first = backend.make()
    run_id = _start(first, tmp_path)
    first.log_metrics({"loss": 3.0}, step=0)
    first.finish("KILLED")
    again = backend.make()
    assert _start(again, tmp_path, resume_run_id=run_id) == run_id
    again.log_metrics({"loss": 2.0}, step=1)
    again.finish()
    assert backend.status(run_id) in (None, "FINISHED")
    assert backend.history(run_id, "loss") in (None, [(0, 3.0), (1, 2.0)])


def test_a_child_run_is_a_separate_run(backend: Backend, tmp_path: Path) -> None:
    with backend.make() as parent:
        parent_id = _start(parent, tmp_path)
        with backend.make() as child:
            child_id = _start(child, tmp_path / "trial-0", parent_run_id=parent_id)
        assert child_id != parent_id
    assert backend.status(child_id) in (None, "FINISHED")
