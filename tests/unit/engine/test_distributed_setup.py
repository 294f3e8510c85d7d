"""Distributed settings that are refused before any process group exists."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trainspec.engine._dist import choose_backend, process_batch_size, sync_batchnorm
from trainspec.engine._rng import EpochSampler
from trainspec.errors import SpecError
from trainspec.spec import TrainSpec


def test_global_batch_is_split_over_the_processes() -> None:
    config = TrainSpec.model_validate({"batch_size": 64, "batch_size_scope": "global"})
    assert process_batch_size(config, 4) == 16
    assert process_batch_size(TrainSpec.model_validate({"batch_size": 64}), 4) == 64
    with pytest.raises(SpecError, match=r"does not split evenly over 3 processes"):
        process_batch_size(config, 3)


def test_sync_batchnorm_is_refused_on_the_cpu() -> None:
    config = TrainSpec.model_validate({"sync_batchnorm": True})
    module = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with pytest.raises(SpecError, match=r"sync_batchnorm needs CUDA") as info:
        sync_batchnorm(module, config, torch.device("cpu"), 2)
    assert "train.sync_batchnorm" in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_nccl_without_cuda_is_refused_and_auto_is_gloo() -> None:
    assert choose_backend("auto", "auto") == "gloo"
    assert choose_backend("gloo", "cpu") == "gloo"
    with pytest.raises(SpecError, match=r"backend nccl needs CUDA"):
        choose_backend("nccl", "auto")


def test_a_spec_names_the_distributed_keys() -> None:
    config = TrainSpec.model_validate({"distributed": {"backend": "gloo", "timeout_s": 60}})
    assert config.distributed.backend == "gloo"
    with pytest.raises(ValueError):
        TrainSpec.model_validate({"distributed": {"backend": "mpi"}})


@pytest.mark.parametrize(("size", "world", "per_rank"), [(64, 2, 8), (61, 2, 8), (30, 3, 5)])
def test_the_ranks_shares_make_the_global_batches_of_one_permutation(
    size: int, world: int, per_rank: int
) -> None:
    one = EpochSampler(size, seed=7)
    perm = one.permutation(3)
    # the same permutation whatever the number of processes: a checkpoint holds it, and each
    # process (however many there are on resume) takes its share again
    for rank in range(world):
        assert np.array_equal(
            EpochSampler(size, 7, rank=rank, world_size=world).permutation(3), perm
        )
    shares = [EpochSampler(size, 7, rank=r, world_size=world).shard(perm) for r in range(world)]
    assert len({len(s) for s in shares}) == 1
    glob = per_rank * world
    for k in range(len(shares[0]) // per_rank):
        batch = np.stack([s[k * per_rank : (k + 1) * per_rank] for s in shares], axis=1).ravel()
        expected = np.resize(perm, len(shares[0]) * world)[k * glob : (k + 1) * glob]
        assert np.array_equal(batch, expected)
    assert sorted(set(np.concatenate(shares).tolist())) == list(range(size))
