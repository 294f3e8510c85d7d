"""Data-parallel training on ``torch.distributed``: the process group and the few collectives
the loop needs.

The processes are started by torch's own launcher (``torchrun``, or ``trainspec train
--nproc N`` through ``torch.distributed.launcher``), which describes the group in the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).
Without those variables every function here is a no-op for one process, so the single-process
loop pays nothing for them.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Iterator
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from trainspec.errors import SpecError
from trainspec.spec import DistributedSpec, TrainSpec

__all__ = [
    "LossAndStop",
    "StepShare",
    "agree_stop",
    "broadcast_object",
    "choose_backend",
    "env_world_size",
    "gather_objects",
    "is_distributed",
    "local_rank",
    "mean_loss_and_stop",
    "process_batch_size",
    "process_group",
    "sum_across",
    "sync_batchnorm",
    "wrap_ddp",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


def env_world_size() -> int:
    """The number of processes the launcher started (1 when run without one)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def choose_backend(backend: str, device: str) -> str:
    """``auto``: nccl when the processes train on CUDA devices, gloo otherwise."""
    cuda = torch.cuda.is_available() and device not in ("cpu", "mps")
    if backend == "auto":
        return "nccl" if cuda and dist.is_nccl_available() else "gloo"
    if backend == "nccl" and not (cuda and dist.is_nccl_available()):
        raise SpecError.single(
            f"backend nccl needs CUDA devices and a torch build with NCCL; the device is "
            f"{device!r} and CUDA is {'' if torch.cuda.is_available() else 'not '}available",
            path=("train", "distributed", "backend"),
            hint="use backend: auto (gloo on the CPU) or gloo",
        )
    return backend


@contextlib.contextmanager
def process_group(spec: DistributedSpec, device: str) -> Iterator[str | None]:
    """Join the process group the launcher describes; yields the backend (None when there is
    no group to join). A group someone else made (a user's ``torchrun`` script) is used as it
    is and left alone on exit."""
    if env_world_size() <= 1 or not dist.is_available():
        yield None
        return
    if dist.is_initialized():
        yield str(dist.get_backend())
        return
    backend = choose_backend(spec.backend, device)
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    # The timeout bounds how long a collective waits for a rank that died: the job then ends
    # with an error instead of hanging.
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=spec.timeout_s))
    log.debug("rank %d of %d joined the %s group", dist.get_rank(), dist.get_world_size(), backend)
    try:
        yield backend
    finally:
        dist.destroy_process_group()


def broadcast_object(obj: T, src: int = 0) -> T:
    """``obj`` as rank ``src`` has it, on every rank (picklable values only)."""
    if not is_distributed():
        return obj
    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]  # type: ignore[no-any-return]


def gather_objects(obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0 (in rank order); None on the other ranks."""
    if not is_distributed():
        return [obj]
    rank = dist.get_rank()
    out: list[Any] | None = [None] * dist.get_world_size() if rank == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def sum_across(values: torch.Tensor) -> torch.Tensor:
    """The elementwise sum of ``values`` over all ranks (in place, and returned)."""
    if is_distributed():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def process_batch_size(config: TrainSpec, world: int) -> int:
    """Samples per process and step: ``batch_size``, or its share of a global batch."""
    if config.batch_size_scope == "process":
        return config.batch_size
    if config.batch_size % world:
        raise SpecError.single(
            f"batch_size {config.batch_size} with batch_size_scope: global does not split "
            f"evenly over {world} processes",
            path=("train", "batch_size"),
            hint=f"use a multiple of {world}, or batch_size_scope: process",
        )
    return config.batch_size // world


def sync_batchnorm(module: nn.Module, config: TrainSpec, device: torch.device, world: int) -> None:
    """Replace BatchNorm layers by SyncBatchNorm in place (their parameters are kept)."""
    if not config.sync_batchnorm:
        return
    if device.type != "cuda":
        raise SpecError.single(
            f"sync_batchnorm needs CUDA devices (torch's SyncBatchNorm runs on GPUs only); "
            f"the device is {device.type}",
            path=("train", "sync_batchnorm"),
            hint="set train.sync_batchnorm: false (each process then keeps its own statistics)",
        )
    if world <= 1:
        return
    for name, child in list(module.named_children()):
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(child)  # type: ignore[no-untyped-call]
        if converted is not child:
            setattr(module, name, converted)


def wrap_ddp(
    module: nn.Module, device: torch.device, config: TrainSpec, share: StepShare | None = None
) -> nn.Module:
    """``module`` in DDP; with ``share``, its values ride on the gradients' all-reduce."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" and device.index is not None else None
    ddp = DistributedDataParallel(
        module,
        device_ids=ids,
        find_unused_parameters=config.distributed.find_unused_parameters,
    )
    if share is not None:
        # A lambda: torch refuses a hook whose annotations are strings (postponed evaluation).
        ddp.register_comm_hook(share, lambda state, bucket: _allreduce_with_share(state, bucket))
    return ddp


class StepShare:
    """Values every rank needs once per optimiser step (the sum of its losses and its stop
    request), carried by DDP's gradient all-reduce instead of a collective of their own.

    ``arm`` before the backward pass that synchronises the gradients; ``take`` after it gives
    the sums over the ranks, or None when no bucket was reduced (the caller then reduces the
    values itself). The values travel in the first bucket (DDP's small one, 1 MiB at most),
    appended to its gradients, in their dtype: used only for float32 and float64 gradients.
    On gloo a separate reduction queues ahead of the gradients' buckets and costs a round trip
    of its own each step; this one costs a copy of that bucket.
    """

    def __init__(self, world: int) -> None:
        self.world = world
        self.values: torch.Tensor | None = None
        self.result: torch.Tensor | None = None

    def arm(self, values: torch.Tensor) -> None:
        self.values, self.result = values, None

    def take(self) -> torch.Tensor | None:
        result, self.values, self.result = self.result, None, None
        return result


def _allreduce_with_share(share: StepShare, bucket: Any) -> torch.futures.Future[torch.Tensor]:
    """torch's default hook (divide by the world size, sum) for ``bucket`` (a
    ``dist.GradBucket``), with ``share``'s values appended to bucket 0 (reduced once in every
    synchronising backward pass) and summed, not divided."""
    grads: torch.Tensor = bucket.buffer()
    grads.div_(share.world)
    values = share.values if bucket.index() == 0 else None
    if values is None:
        return _sum_async(grads).then(lambda f: f.value()[0])
    n = grads.numel()

    def done(f: torch.futures.Future[list[torch.Tensor]]) -> torch.Tensor:
        out = f.value()[0]
        share.result = out[n:]
        return out[:n]

    return _sum_async(torch.cat([grads, values.to(grads.dtype)])).then(done)


def _sum_async(values: torch.Tensor) -> torch.futures.Future[list[torch.Tensor]]:
    work = dist.all_reduce(values, op=dist.ReduceOp.SUM, async_op=True)
    assert work is not None
    fut: torch.futures.Future[list[torch.Tensor]] = work.get_future()
    return fut


class LossAndStop:
    """The mean of every rank's ``loss`` and whether any rank wants to stop, in one collective
    started at once and read by ``wait``: the loop runs the backward pass meanwhile, so the
    reduction costs no extra wait at each step.

    The mean of equal-sized per-rank batch means is the mean over the global batch, so the
    logged loss is the one a single process with the global batch would log.
    """

    def __init__(self, loss: torch.Tensor, stop: bool, world: int) -> None:
        self.world = world
        self.packed = torch.stack(
            [
                loss.detach().double(),
                torch.tensor(float(stop), dtype=torch.float64, device=loss.device),
            ]
        )
        self.work = (
            dist.all_reduce(self.packed, op=dist.ReduceOp.SUM, async_op=True)
            if is_distributed()
            else None
        )

    def wait(self) -> tuple[torch.Tensor, bool]:
        if self.work is not None:
            self.work.wait()
        return self.packed[0] / self.world, bool(self.packed[1].item() > 0)


def mean_loss_and_stop(loss: torch.Tensor, stop: bool, world: int) -> tuple[torch.Tensor, bool]:
    """``LossAndStop`` waited for at once."""
    return LossAndStop(loss, stop, world).wait()


def agree_stop(stop: bool) -> bool:
    """True on every rank when any rank was asked to stop (a signal reaches ranks at
    different steps; they must still stop at the same one)."""
    if not is_distributed():
        return stop
    flag = torch.tensor([float(stop)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        flag = flag.cuda()
    sum_across(flag)
    return bool(flag.item() > 0)
