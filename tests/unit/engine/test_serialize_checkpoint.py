"""Training state without pickle, and checkpoints that survive crashes and corruption."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from trainspec.engine import load_checkpoint, load_latest
from trainspec.engine._checkpoint import find_checkpoints, write_checkpoint
from trainspec.engine._publish import prune, publish
from trainspec.engine._rng import capture_global_rng, restore_global_rng
from trainspec.engine._serialize import flatten, unflatten
from trainspec.engine._state import TrainState, pack_state, unpack_state
from trainspec.errors import TrainingError


def _roundtrip(obj: object) -> object:
    tensors: dict[str, torch.Tensor] = {}
    tree = flatten(obj, tensors)
    return unflatten(json.loads(json.dumps(tree)), tensors)


def test_optimizer_state_round_trips_through_json_and_tensors() -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    back = _roundtrip(opt.state_dict())
    fresh = torch.optim.AdamW(model.parameters(), lr=0.5)
    fresh.load_state_dict(back)  # type: ignore[arg-type]
    assert fresh.param_groups[0]["betas"] == (0.8, 0.9)
    assert fresh.param_groups[0]["lr"] == 0.1
    for key in (0, 1):  # optimiser state is keyed by int
        for name, value in opt.state[model.weight if key == 0 else model.bias].items():
            assert torch.equal(fresh.state_dict()["state"][key][name], value)


def test_global_rng_round_trips() -> None:
    state = _roundtrip(capture_global_rng())
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_global_rng(state)  # type: ignore[arg-type]
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_each_process_gets_its_own_generators_back_and_extra_ones_get_rank_0s() -> None:
    states = []
    for draws in (1, 5, 9):  # three processes whose generators drifted apart
        torch.manual_seed(0)
        torch.rand(draws)
        states.append(capture_global_rng())
    nexts = []
    for state in states:
        restore_global_rng(state)
        nexts.append(torch.rand(1).item())
    packed = _roundtrip(pack_state(TrainState(position=3), {}, {}, states))
    for rank in (0, 1, 2, 3):
        state = unpack_state(packed, {}, rank)  # type: ignore[arg-type]
        assert state.position == 3
        # a fourth process (a resume on more processes) starts from rank 0's generators
        assert torch.rand(1).item() == nexts[rank if rank < 3 else 0]


def test_unserialisable_state_is_refused() -> None:
    with pytest.raises(TrainingError, match="without pickle"):
        flatten({"fn": lambda: 0}, {})


def _write(root: Path, step: int) -> Path:
    model = {"w": torch.full((2, 2), float(step))}
    tensors = {"t": torch.arange(3)}
    return write_checkpoint(root, step, model, tensors, {"step": step})


def test_write_and_load(tmp_path: Path) -> None:
    path = _write(tmp_path, 7)
    ckpt = load_checkpoint(path)
    assert ckpt.state == {"step": 7}
    assert torch.equal(ckpt.model["w"], torch.full((2, 2), 7.0))
    assert not list(tmp_path.glob(".tmp-*"))


def test_truncated_latest_falls_back_to_previous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path, 1)
    newest = _write(tmp_path, 2)
    data = (newest / "model.safetensors").read_bytes()
    (newest / "model.safetensors").write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        ckpt = load_latest(tmp_path)
    assert ckpt is not None and ckpt.state == {"step": 1}
    assert "checksum" in caplog.text and "falling back" in caplog.text
    # the damaged one is set aside, so it is neither retried nor counted as kept
    assert [p.name for p in find_checkpoints(tmp_path)] == ["ckpt-00000001"]


def test_unfinished_checkpoint_without_manifest_is_skipped(tmp_path: Path) -> None:
    _write(tmp_path, 1)
    (_write(tmp_path, 2) / "manifest.json").unlink()
    ckpt = load_latest(tmp_path)
    assert ckpt is not None and ckpt.state == {"step": 1}


def test_no_valid_checkpoint_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, 1)
    (path / "state.json").write_text("{}")
    with pytest.raises(TrainingError, match="no valid checkpoint"):
        load_latest(tmp_path)
    assert load_latest(tmp_path / "nothing") is None


def test_prune_keeps_the_newest_and_publish_copies(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        path = _write(tmp_path, step)
    publish(path, "last")
    publish(path, "best")
    prune(tmp_path, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best", "ckpt-00000002", "ckpt-00000003", "last"]
    assert load_checkpoint(tmp_path / "last").state == {"step": 3}
    # replacing the published copy leaves the old files of other checkpoints alone
    publish(tmp_path / "ckpt-00000002", "last")
    assert load_checkpoint(tmp_path / "last").state == {"step": 2}
    assert load_checkpoint(tmp_path / "ckpt-00000003").state == {"step": 3}


def test_a_second_save_at_the_same_step_is_a_newer_checkpoint(tmp_path: Path) -> None:
    first = _write(tmp_path, 4)
    second = write_checkpoint(tmp_path, 4, {"w": torch.zeros(1)}, {}, {"again": True})
    assert second.name == "ckpt-00000004-2"
    assert load_checkpoint(first).state == {"step": 4}  # checkpoints in place never change
    assert find_checkpoints(tmp_path) == [second, first]
    assert load_latest(tmp_path) is not None and load_latest(tmp_path).state == {"again": True}  # type: ignore[union-attr]
