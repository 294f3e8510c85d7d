"""train.checkpoint.best_at_end: the best checkpoint held in memory, written when training ends.

A run that checkpoints only at its end (a sweep trial's default) must leave the same ``best``
and ``last`` as a run that checkpoints every epoch, write one or two checkpoints in all, and
keep the best one when a callback (a sweep's pruner) or an error ends training early.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from trainspec.engine import Callback, FitSettings, fit
from trainspec.engine._serialize import flatten, unflatten
from trainspec.spec._schema_train import TrainSpec

from .helpers import ArraySource, classification_data, mlp

# The highest validation loss is the best: reached early, so the best epoch is not the last.
WORST_LOSS = {"metric": "val/loss", "mode": "max"}
AT_END = {"every_epochs": None, "best_at_end": True}


def _run(run_dir: Path, checkpoint: dict[str, Any], callbacks: list[Callback] | None = None) -> Any:
    data = classification_data(128)
    config = TrainSpec.model_validate(
        {
            "epochs": 5,
            "batch_size": 16,
            "progress": "none",
            "optimizer": {"name": "AdamW", "lr": 0.05},
            "monitor": WORST_LOSS,
            "checkpoint": checkpoint,
        }
    )
    settings = FitSettings(
        config=config, task="classification", num_classes=3, seed=0, callbacks=callbacks or []
    )
    return fit(
        mlp(),
        ArraySource({k: v[:96] for k, v in data.items()}),
        ArraySource({k: v[96:] for k, v in data.items()}),
        settings,
        run_dir=run_dir,
    )


class Saves(Callback):
    def __init__(self) -> None:
        self.paths: list[Path] = []

    def on_checkpoint(self, path: Path, *, best: bool) -> None:
        self.paths.append(path)


def _target(run: Path, name: str) -> Path:
    return (run / "checkpoints" / name).resolve()


def _same_checkpoint(a: Path, b: Path) -> None:
    assert a.name == b.name
    torch.testing.assert_close(
        load_file(a / "model.safetensors"), load_file(b / "model.safetensors"), rtol=0, atol=0
    )
    torch.testing.assert_close(
        load_file(a / "state.safetensors"), load_file(b / "state.safetensors"), rtol=0, atol=0
    )
    state_a, state_b = (json.loads((p / "state.json").read_text()) for p in (a, b))
    for state in (state_a, state_b):  # epochs' durations differ from run to run
        state["history"] = [{k: v for k, v in r.items() if k != "time"} for r in state["history"]]
    assert state_a == state_b


def test_best_at_end_writes_the_same_best_and_last_as_saving_every_epoch(tmp_path: Path) -> None:
    every = _run(tmp_path / "every", {})
    saves = Saves()
    at_end = _run(tmp_path / "end", AT_END, [saves])
    assert at_end.best_epoch == every.best_epoch and at_end.best_epoch < 5
    assert len(saves.paths) == 2  # the best epoch's, then the last epoch's
    for name in ("best", "last"):
        _same_checkpoint(_target(tmp_path / "end", name), _target(tmp_path / "every", name))
    written = sorted(p.name for p in (tmp_path / "end" / "checkpoints").glob("ckpt-*"))
    assert written == sorted(p.name for p in saves.paths)
    torch.testing.assert_close(
        at_end.module.state_dict(), every.module.state_dict(), rtol=0, atol=0
    )


class FailAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, row: Mapping[str, float]) -> None:
        if row["epoch"] == self.epoch:
            raise RuntimeError(f"stopped at epoch {self.epoch}")


def test_training_ended_by_a_callback_keeps_the_best_held_in_memory(tmp_path: Path) -> None:
    every = _run(tmp_path / "every", {"keep_last": 5})
    with pytest.raises(RuntimeError, match="stopped at epoch 4"):
        _run(tmp_path / "end", AT_END, [FailAt(4)])
    best = _target(tmp_path / "end", "best")
    assert best == _target(tmp_path / "end", "last")
    assert json.loads((best / "state.json").read_text())["best_epoch"] == every.best_epoch
    _same_checkpoint(best, _target(tmp_path / "every", "best"))


def test_a_due_checkpoint_writes_the_best_held_before_it(tmp_path: Path) -> None:
    saves = Saves()
    _run(tmp_path, {"every_epochs": 3, "best_at_end": True, "keep_last": 5}, [saves])
    steps = [p.name for p in saves.paths]
    assert steps == sorted(steps) and len(steps) <= 3  # best, epoch 3, epoch 5 (last)
    assert _target(tmp_path, "last").name == steps[-1]
    assert _target(tmp_path, "best").name in steps


@pytest.mark.parametrize(
    "value",
    [
        (3, tuple(range(625)), None),
        {"epoch": 1, "val/loss": 0.5, "flag": True, "name": None},
        {1: 2.0, "a": [1, 2.5, "x"]},
        [{"__tuple__": 1}],
        {"state": {0: {"step": torch.tensor(3.0)}}, "groups": [{"lr": 0.1, "params": [0, 1]}]},
    ],
)
def test_flatten_round_trips_plain_containers(value: Any) -> None:
    tensors: dict[str, torch.Tensor] = {}
    tree = flatten(value, tensors)
    back = unflatten(json.loads(json.dumps(tree)), tensors)
    assert back == value
